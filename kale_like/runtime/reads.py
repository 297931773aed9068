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

That hook is :class:`~.read_recorder.Recorder`. At the end each file gets a fingerprint
(:func:`fingerprint`) and each folder a listing digest (:func:`listing`). Left out: the run
root (inputs, upstream workspaces and the step's own folder are keyed already), the
interpreter's and installed packages' files, the kale_like package, ``/proc``, ``/sys``,
``/dev``, files the step wrote itself, and folders the import system lists to find modules.
In the step's working directory, links to the notebook folder's files are recorded as those
files, and listed folders as the notebook's folders.

:func:`stale_reason` is the other half: why a recorded entry can no longer be reused.
Set ``KALE_LIKE_RECORD_READS=0`` to record nothing (entries then depend on their key only).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_SWITCH",
    "HASH_LIMIT",
    "Reads",
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
RUN_ROOT_MARKER = ".kale_like_run_root"  # as in runtime.workspace (no import cycle)
# Entries of a mirrored working directory that never come from the notebook folder.
MIRROR_SKIP = frozenset(
    {"__pycache__", ".ipynb_checkpoints", ".git", ".hg", ".svn", ".kale_like", "node_modules"}
)


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
