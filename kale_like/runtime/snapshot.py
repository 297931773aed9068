"""What a working directory holds: snapshots of its files, what changed, file digests.

:mod:`.workspace` compares a snapshot taken before a step's cells with one taken after to
find the files the step created, changed or deleted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

__all__ = [
    "DIR",
    "HASH_LIMIT",
    "RUN_ROOT_MARKER",
    "SKIP_DIRS",
    "FileStat",
    "Snapshot",
    "changes",
    "fingerprint",
    "sha256_file",
    "skip_dir",
    "snapshot",
]

# A run root holds this marker: never mirrored or snapshotted (it holds the run itself).
RUN_ROOT_MARKER = ".kale_like_run_root"
# Folders that are never part of a workspace: caches, VCS, virtual environments (found by
# their pyvenv.cfg) and node's package folders. A step runs in a mirror of the notebook
# folder, one link per file, made and removed for every step: a notebook beside a JavaScript
# project would otherwise mirror tens of thousands of node_modules files per step.
SKIP_DIRS = frozenset(
    {"__pycache__", ".ipynb_checkpoints", ".git", ".hg", ".svn", ".kale_like", "node_modules"}
)
# Files above this size are fingerprinted by size and mtime instead of their content.
HASH_LIMIT = 256 << 20


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


Snapshot = dict[str, FileStat]  # POSIX path relative to the root -> stat
DIR = FileStat(-1, 0)  # a folder (recorded so that an empty new folder travels too)


def skip_dir(entry: os.DirEntry[str]) -> bool:
    if entry.name in SKIP_DIRS:
        return True
    path = entry.path
    return os.path.exists(os.path.join(path, RUN_ROOT_MARKER)) or os.path.exists(
        os.path.join(path, "pyvenv.cfg")
    )


def snapshot(root: str | os.PathLike[str]) -> Snapshot:
    """Every file under ``root`` (symlinks followed for files, never for folders)."""
    out: Snapshot = {}
    base = os.fspath(root)
    todo = [""]
    while todo:
        rel = todo.pop()
        try:
            entries = list(os.scandir(os.path.join(base, rel)))
        except OSError:
            continue
        for entry in entries:
            sub = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not skip_dir(entry):
                        out[sub] = DIR
                        todo.append(sub)
                    continue
                st = entry.stat()  # follows a symlink: a write through it is a change
            except OSError:
                continue  # dangling link, vanished file
            if not entry.is_dir():
                out[sub] = FileStat(st.st_size, st.st_mtime_ns)
    return out


def changes(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """(new or changed files, deleted files), sorted; folders are not included."""
    changed = sorted(p for p, st in after.items() if st != DIR and before.get(p) != st)
    deleted = sorted(p for p, st in before.items() if st != DIR and p not in after)
    return changed, deleted


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: str | os.PathLike[str]) -> str:
    """Content digest of a file (size and mtime for very large files); "" if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if st.st_size > HASH_LIMIT:
        return f"stat:{st.st_size}:{st.st_mtime_ns}"
    try:
        return sha256_file(os.fspath(path))
    except OSError:
        return ""
