"""What a step reads from outside its inputs, recorded while its cells run.

A cache entry is only as good as its key: a step that reads ``data.csv``, lists a folder or
asks a server computes something its code and inputs do not determine. While a step's cells
run, an audit hook (:pep:`578`) records

* files opened for reading (``open``, ``os.open``, ``io.open_code`` of imported modules,
  ``sqlite3.connect``) anywhere, relative paths resolved against the working directory of the
  moment (so after ``os.chdir`` too);
* folders listed (``os.listdir``, ``os.scandir`` — which ``glob``, ``os.walk`` and pathlib's
  ``iterdir``/``glob`` go through);
* network connections (``socket.connect``, ``socket.sendto``/``sendmsg`` with an address) and
  subprocesses (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.posix_spawn``,
  ``os.spawn*``), whose results no digest can pin down.

At the end each file gets a fingerprint (:func:`fingerprint`) and each folder a listing
digest (:func:`listing`). Left out: the run root (inputs, upstream workspaces and the step's
own folder are keyed already), the interpreter's and installed packages' files, the kale_like
package, ``/proc``, ``/sys``, ``/dev``, files the step wrote itself, and folders the
import system lists to find modules. In the step's working directory, links to the notebook
folder's files are recorded as those files, and listed folders as the notebook's folders.

:func:`stale_reason` is the other half: why a recorded entry can no longer be reused.
Set ``KALE_LIKE_RECORD_READS=0`` to record nothing (entries then depend on their key only).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import site
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_SWITCH",
    "HASH_LIMIT",
    "Reads",
    "Recorder",
    "enabled",
    "fingerprint",
    "listing",
    "stale_reason",
]

ENV_SWITCH = "KALE_LIKE_RECORD_READS"
# Files up to this size are fingerprinted by a sha256 of their content: hashing runs at
# ~1 GB/s here, so a lookup spends at most ~50 ms on such a file, less than reading it cost
# the step. Bigger files (datasets, model weights) are fingerprinted by size + mtime + a
# sha256 of their first and last MiB: it catches appends, truncation, header edits and any
# rewrite (new mtime) without reading gigabytes on every run.
HASH_LIMIT = 64 << 20
EDGE = 1 << 20
CHANGED_DURING_RUN = "changed-during-run"  # never equal to a fingerprint: runs again
MAX_LISTED = 50  # addresses / commands kept per step (the first ones)
RUN_ROOT_MARKER = ".kale_like_run_root"  # as in runtime.workspace (no import cycle)
# Entries of a mirrored working directory that never come from the notebook folder.
MIRROR_SKIP = frozenset(
    {"__pycache__", ".ipynb_checkpoints", ".git", ".hg", ".svn", ".kale_like", "node_modules"}
)

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


def enabled() -> bool:
    """Whether steps record their reads (``$KALE_LIKE_RECORD_READS``, on by default)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


# -- fingerprints --------------------------------------------------------------------------
def fingerprint(path: str | os.PathLike[str]) -> str:
    """A file's content digest ("" when missing; see :data:`HASH_LIMIT` for big files)."""
    try:
        fh = open(path, "rb", buffering=0)  # one open + fstat: lookups check many files
    except IsADirectoryError:
        return listing(path)
    except OSError:
        return ""
    try:
        with fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                return listing(path)
            h = hashlib.sha256()
            if st.st_size <= HASH_LIMIT:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                return h.hexdigest()
            h.update(fh.read(EDGE))
            fh.seek(-EDGE, os.SEEK_END)
            h.update(fh.read(EDGE))
    except OSError:
        return "unreadable"
    return f"large:{st.st_size}:{st.st_mtime_ns}:{h.hexdigest()}"


def listing(path: str | os.PathLike[str], mirrored: bool = False) -> str:
    """Digest of a folder's listing: names, and sizes + mtimes of files ("" when missing).

    The ``count:`` prefix lets a message say how the listing changed. ``mirrored`` leaves
    out what a step's working directory never mirrors (caches, VCS and hidden folders) and
    marks the digest with ``m`` so that a check lists the folder the same way.
    """
    try:
        entries = list(os.scandir(path))
    except OSError:
        return ""
    rows = []
    for entry in entries:
        try:
            if entry.is_dir():
                if mirrored and (
                    entry.name in MIRROR_SKIP
                    or entry.name.startswith(".")
                    or os.path.exists(os.path.join(entry.path, RUN_ROOT_MARKER))
                ):
                    continue
                rows.append(f"{entry.name}/")  # its contents are not part of the listing
                continue
            st = entry.stat()
        except OSError:
            rows.append(f"{entry.name}?")
            continue
        rows.append(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}")
    rows.sort()
    digest = hashlib.sha256("\n".join(rows).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{'m' if mirrored else ''}{len(rows)}:{digest}"


# -- what a step read -------------------------------------------------------------------------
@dataclass
class Reads:
    """What one step read: files and folders (real path -> digest), addresses, commands."""

    files: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, str] = field(default_factory=dict)
    network: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": dict(sorted(self.files.items())),
            "dirs": dict(sorted(self.dirs.items())),
            "network": list(self.network),
            "processes": list(self.processes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Reads:
        data = data or {}
        return cls(
            files={str(k): str(v) for k, v in (data.get("files") or {}).items()},
            dirs={str(k): str(v) for k, v in (data.get("dirs") or {}).items()},
            network=[str(a) for a in data.get("network") or []],
            processes=[str(c) for c in data.get("processes") or []],
        )


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


def find_run_root(*paths: str | None) -> str | None:
    """The run root holding one of ``paths`` (the folder with the run-root marker)."""
    for path in paths:
        if not path:
            continue
        cur = os.path.abspath(path)
        while True:
            if os.path.exists(os.path.join(cur, RUN_ROOT_MARKER)):
                return cur
            parent = os.path.dirname(cur)
            if parent == cur:
                break
            cur = parent
    return None


def seed_base(workdir: str, links: Iterable[str]) -> str | None:
    """The folder the working directory's seed links point into (the notebook folder)."""
    for rel in links:
        try:
            target = os.readlink(os.path.join(workdir, rel))
        except OSError:
            continue
        suffix = os.sep + rel.replace("/", os.sep)
        if os.path.isabs(target) and target.endswith(suffix):
            return target[: -len(suffix)] or os.sep
    return None


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


# -- checking an entry --------------------------------------------------------------------
def show_path(path: str, base: str | os.PathLike[str] | None) -> str:
    """``path`` for a message: relative to the notebook folder, ``~`` for home."""
    if base is not None:
        root = os.path.realpath(base)
        if path == root:
            return "."
        if path.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, root)
    home = os.path.expanduser("~")
    if home not in ("", os.sep) and path.startswith(home.rstrip(os.sep) + os.sep):
        return "~" + path[len(home.rstrip(os.sep)) :]
    return path


def stale_reason(
    recorded: Mapping[str, Any] | None,
    *,
    allow_external: bool = False,
    base: str | os.PathLike[str] | None = None,
) -> str | None:
    """Why an entry whose step read ``recorded`` cannot be reused now; None if it can.

    ``allow_external`` (the step's ``cache:enabled`` tag) reuses entries of steps that used
    the network or started processes; changed files and folders always run the step again.
    """
    reads = Reads.from_json(recorded)
    if reads.network and not allow_external:
        return f"it opened a network connection ({reads.network[0]}) (cache:enabled to reuse)"
    if reads.processes and not allow_external:
        cmd = reads.processes[0]
        cmd = cmd if len(cmd) <= 60 else cmd[:57] + "..."
        return f"it started a subprocess ({cmd}) (cache:enabled to reuse)"
    for path, digest in reads.files.items():
        now = fingerprint(path)
        if now != digest:
            shown = show_path(path, base)
            if not now:
                return f"{shown} was deleted"
            if not digest:
                return f"{shown} appeared"
            return f"{shown} changed"
    for path, digest in reads.dirs.items():
        now = listing(path, mirrored=digest.startswith("m"))
        if now != digest:
            shown = show_path(path, base).rstrip(os.sep) + os.sep
            if not now:
                return f"folder {shown} was deleted"
            before_n, now_n = (d.split(":", 1)[0].lstrip("m") for d in (digest, now))
            if before_n != now_n:
                return f"folder {shown} changed ({before_n} -> {now_n} entries)"
            return f"folder {shown} changed (a file in it was modified, added or removed)"
    return None


_interpreter_prefixes()  # at import: a warm step-process starter computes it once for all
