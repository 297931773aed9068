"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8 when a str) to a temporary file beside ``path``, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, data: Any, *, newline: bool = True) -> None:
    """``data`` as indented strict JSON (``repr`` of what JSON cannot hold, ``null`` for
    NaN/Infinity), ending in a newline."""
    from .jsonsafe import dumps

    write_text_atomic(path, dumps(data, indent=2, default=repr) + ("\n" if newline else ""))
