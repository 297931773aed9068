"""The audit hook that records what a step reads while its cells run (:class:`Recorder`).

It notes (:pep:`578`) files opened for reading, folders listed, network connections and
subprocesses, as described in :mod:`.reads`; :meth:`Recorder.stop` fingerprints them into a
:class:`~.reads.Reads`. Leaving out the interpreter's, installed packages' and kale_like's own
files, and what the import system lists, happens here, as the events arrive.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import site
import sys
from collections.abc import Iterable
from typing import Any

from .reads import Reads, fingerprint, listing

__all__ = ["CHANGED_DURING_RUN", "MAX_LISTED", "Recorder"]

CHANGED_DURING_RUN = "changed-during-run"  # never equal to a fingerprint: runs again
MAX_LISTED = 50  # addresses / commands kept per step (the first ones)

_OPEN, _LIST, _NET, _PROC, _WRITE, _MKDIR = range(6)
_EVENTS = {
    "open": _OPEN,
    "sqlite3.connect": _OPEN,
    "os.listdir": _LIST,
    "os.scandir": _LIST,
    "socket.connect": _NET,
    "socket.sendto": _NET,
    "socket.sendmsg": _NET,
    "subprocess.Popen": _PROC,
    "os.system": _PROC,
    "os.exec": _PROC,
    "os.posix_spawn": _PROC,
    "os.spawn": _PROC,
    "os.rename": _WRITE,
    "os.replace": _WRITE,
    "os.remove": _WRITE,
    "os.truncate": _WRITE,
    "os.mkdir": _MKDIR,
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR
_FINDERS = ("<frozen importlib", "<frozen zipimport")
_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # kale_like/
_FINDER_FILES = re.compile(r"[/\\](importlib[/\\]|pkgutil\.py$|pkg_resources[/\\])")


@functools.lru_cache(maxsize=1)
def _interpreter_prefixes() -> tuple[str, ...]:
    """Folders whose files are the interpreter's or installed packages' own."""
    paths: set[str] = set()
    generic = {os.sep, "/usr", "/usr/local", "/opt"}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        # A venv or conda prefix is the interpreter's own; /usr is not (its lib/pythonX.Y is).
        if os.path.realpath(prefix) not in generic:
            paths.add(prefix)
    # The standard library (lib-dynload is inside it); sysconfig would cost a step ~2 ms.
    paths.add(os.path.dirname(os.__file__))
    with contextlib.suppress(Exception):
        paths.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        paths.add(site.getusersitepackages())
    paths.add(_OWN)  # kale_like
    paths.update(("/proc", "/sys", "/dev"))
    out = {os.path.realpath(p) for p in paths if p} | {os.path.abspath(p) for p in paths if p}
    return tuple(sorted(p.rstrip(os.sep) + os.sep for p in out))


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return path.startswith(prefixes)


class Recorder:
    """The audit hook of one step: ``start()`` before its prelude, ``stop()`` after its cells.

    ``workdir`` is the step's working directory, ``base`` the notebook folder its links
    point into, ``skip`` extra folders to leave out (the run root).
    """

    def __init__(self, workdir: str, base: str | None = None, skip: Iterable[str] = ()) -> None:
        self.work = os.path.abspath(workdir)
        self.work_prefix = self.work.rstrip(os.sep) + os.sep
        self.base = base  # may be set later (before stop)
        extra = {os.path.abspath(p) for p in skip} | {os.path.realpath(p) for p in skip}
        self.skip = _interpreter_prefixes() + tuple(p.rstrip(os.sep) + os.sep for p in extra)
        self.files: dict[str, tuple[int, int] | None] = {}  # path -> (size, mtime) at open
        self.dirs: set[str] = set()
        self.written: set[str] = set()
        self.made: set[str] = set()
        self.network: dict[str, None] = {}
        self.processes: dict[str, None] = {}
        self.active = False

    # -- the hook (runs on every audit event of the process: cheap first test) --------------
    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        kind = _EVENTS.get(event)
        if kind is None or not self.active:
            return
        try:
            if kind == _OPEN:
                self._open(event, args)
            elif kind == _LIST:
                # The import system and package metadata (entry points) list sys.path
                # folders, the working directory among them, to find modules: not a read.
                caller = sys._getframe(1).f_code.co_filename
                # Nor are the runtime's own listings (the workspace snapshot).
                if not caller.startswith(_FINDERS) and not _FINDER_FILES.search(caller):
                    if not caller.startswith(_OWN):
                        self._list(args[0] if args else None)
            elif kind == _NET:
                self._net(args)
            elif kind == _PROC:
                self._proc(event, args)
            elif kind == _WRITE:
                for p in args[:2] if event in ("os.rename", "os.replace") else args[:1]:
                    full = _full(p)
                    if full is not None:
                        self.written.add(full)
            elif kind == _MKDIR:
                full = _full(args[0] if args else None)
                if full is not None:
                    self.made.add(full)
        except Exception:  # an exception here would surface in the user's code
            pass

    def _open(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "sqlite3.connect":
            db = args[0] if args else None
            if isinstance(db, str) and (db == ":memory:" or db.startswith("file:")):
                return
            flags = 0
        else:
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            mode = args[1] if len(args) > 1 else None
            if isinstance(mode, str) and set(mode) & set("wax+"):
                flags |= os.O_WRONLY
            db = args[0] if args else None
        full = _full(db)
        if full is None:
            return
        if flags & _WRITE_FLAGS:
            self.written.add(full)
            return
        if full.endswith(".pyc") and f"{os.sep}__pycache__{os.sep}" in full:
            import importlib.util

            try:  # an import read the cached bytecode: the source is what it depends on
                full = importlib.util.source_from_cache(full)
            except ValueError:
                return
        if full in self.files:
            return
        if not full.startswith(self.work_prefix) and _under(full, self.skip):
            return
        try:
            st = os.stat(full)
            self.files[full] = (st.st_size, st.st_mtime_ns)
        except OSError:
            self.files[full] = None

    def _list(self, path: Any) -> None:
        full = _full("." if path is None else path)
        if full is None:
            return
        if full == self.work or full.startswith(self.work_prefix) or not _under(full, self.skip):
            self.dirs.add(full)

    def _net(self, args: tuple[Any, ...]) -> None:
        address = args[1] if len(args) > 1 else None
        if address is None:
            return
        if isinstance(address, tuple) and len(address) >= 2:
            text = f"{address[0]}:{address[1]}"
        else:
            text = os.fsdecode(address) if isinstance(address, (str, bytes)) else repr(address)
            # multiprocessing's own sockets (managers, forkserver) live in its pymp- folder
            if f"{os.sep}pymp-" in text:
                return
        if len(self.network) < MAX_LISTED:
            self.network[text] = None

    def _proc(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "os.system":
            cmd: Any = args[0] if args else ""
        elif event == "subprocess.Popen":
            cmd = args[1] if len(args) > 1 and args[1] is not None else args[0]
        elif event == "os.spawn":
            cmd = args[2] if len(args) > 2 else args[1:2]
        else:  # os.exec, os.posix_spawn: (path, argv, env)
            cmd = args[1] if len(args) > 1 else args[:1]
        if isinstance(cmd, (list, tuple)):
            text = " ".join(os.fsdecode(c) if isinstance(c, bytes) else str(c) for c in cmd)
        else:
            text = os.fsdecode(cmd) if isinstance(cmd, bytes) else str(cmd)
        if len(self.processes) < MAX_LISTED:
            self.processes[text[:200]] = None

    # -- switching -------------------------------------------------------------------------
    def start(self) -> Recorder:
        sys.addaudithook(self.hook)  # hooks cannot be removed: ``active`` switches it off
        self.active = True
        return self

    def stop(self) -> Reads:
        """Stop recording; fingerprint what was read (files the step wrote left out)."""
        self.active = False
        # Copies: a thread of the step may still be inside the hook for a moment.
        written = set(self.written)
        written |= {os.path.realpath(p) for p in written}
        out = Reads(network=list(self.network), processes=list(self.processes))
        for path, before in list(self.files.items()):
            real = self._file_target(path, written)
            if real is None or real in written or real in out.files:
                continue
            digest = fingerprint(real)
            if before is not None and digest:
                try:
                    st = os.stat(real)
                    if (st.st_size, st.st_mtime_ns) != before:
                        digest = CHANGED_DURING_RUN  # what the step saw is gone: never reuse
                except OSError:
                    pass
            out.files[real] = digest
        for path in list(self.dirs):
            real, mirrored = self._dir_target(path)
            if real is None or real in self.made or real in out.dirs:
                continue
            out.dirs[real] = listing(real, mirrored)
        return out

    @property
    def base(self) -> str | None:
        return self._base

    @base.setter
    def base(self, value: str | None) -> None:
        self._base = os.path.realpath(value) if value else None

    def _in_work(self, path: str) -> str | None:
        if path == self.work:
            return ""
        return path[len(self.work_prefix) :] if path.startswith(self.work_prefix) else None

    def _file_target(self, path: str, written: set[str]) -> str | None:
        """The real file ``path`` stands for, or None when it is not an outside read."""
        if path in written:
            return None
        rel = self._in_work(path)
        if rel is None:
            real = os.path.realpath(path)
            return None if _under(real, self.skip) else real
        if os.path.islink(path):  # a seed link: the notebook folder's file
            real = os.path.realpath(path)
            return None if _under(real, self.skip) else real
        if os.path.lexists(path) or self.base is None:
            return None  # restored from an upstream step, or the step's own file
        return os.path.join(self.base, rel)  # looked for and missing: would appear there

    def _dir_target(self, path: str) -> tuple[str | None, bool]:
        rel = self._in_work(path)
        if rel is None:
            real = os.path.realpath(path)
            return (None if _under(real, self.skip) else real), False
        if self.base is None:
            return None, False
        mirror = os.path.join(self.base, rel) if rel else self.base
        return (mirror if os.path.isdir(mirror) else None), True


def _full(path: Any) -> str | None:
    """An absolute, normalised path (links kept) for an audit argument, else None."""
    if path is None or isinstance(path, int):
        return None
    if not isinstance(path, (str, bytes)):
        path = os.fspath(path)
    text = os.fsdecode(path)
    if not text or "\0" in text:
        return None
    if not os.path.isabs(text):
        text = os.path.join(os.getcwd(), text)
    return os.path.normpath(text)


_interpreter_prefixes()  # at import: a warm step-process starter computes it once for all
