"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import EnvironmentProblem

# How a full disk (or an exhausted quota) reads: errno, or the text of libraries that raise
# OSError without one (numpy's `tofile`: "Not enough free space to write N bytes").
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_TEXTS = ("no space left on device", "not enough free space", "disk quota exceeded")
# A folder with less room than this counts as full when a step died without saying why.
NEARLY_FULL_BYTES = 1 << 20
_CHUNK = 16 << 20


def write_text_atomic(
    path: Path, text: str | bytes, *, mode: int | None = None, fsync: bool = False
) -> None:
    """Write ``text`` (UTF-8 when a str) to a temporary file beside ``path``, then rename.

    ``mode``: the file's permissions (else mkstemp's 0600); ``fsync``: flush the data to disk
    before the rename (a user's own file, e.g. a notebook, survives a crash whole). On any
    error the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented strict JSON (``repr`` of what JSON cannot hold, ``null`` for
    NaN/Infinity), ending in a newline."""
    from .jsonsafe import dumps

    write_text_atomic(path, dumps(data, indent=2, default=repr) + "\n")


def file_digest(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in chunks (values and layers may be gigabytes)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def tail_text(path: Path, limit: int = 4000) -> str:
    """The last ``limit`` bytes of a file (a log) as text; "" if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
            data = fh.read()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", errors="replace")


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk is full."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if mentions_disk_full(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def mentions_disk_full(text: str | None) -> bool:
    """Whether an error message (e.g. a failed step's) says the disk is full."""
    low = (text or "").lower()
    return "errno 28" in low or any(t in low for t in _FULL_TEXTS)


def nearly_full(folder: Path) -> bool:
    """Whether the file system holding ``folder`` has (almost) no room left."""
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def disk_full_error(folder: Path, what: str = "the run") -> EnvironmentProblem:
    """The exit-3 error for a full disk, naming the folder that could not be written."""
    return EnvironmentProblem(
        f"no space left on the device holding {folder}: {what} could not be saved",
        kind="disk-full",
        path=None,
        fix=f"free space on that disk (e.g. remove old runs under {folder}), or choose "
        "another folder (--run-root / $KALE_LIKE_RUN_ROOT, or -o for compile)",
    )
