"""The on-disk format of one saved variable: a directory with ``meta.json`` beside its data.

Each output path is a directory::

    PATH/meta.json     {"format": 1, "variable", "backend", "type", "digest", "group",
                        "files": {NAME: {"size", "sha256" (files up to 16 MB)}}}
    PATH/value.*       the backend's data files

The recorded sizes and digests are checked before a value is loaded (:func:`damage`), so a
cut or edited file fails clearly (:class:`DamagedValue`) instead of deep inside a library.
Directories are written under a temporary name and renamed (:func:`atomic_dir`), so a killed
step never leaves a half-written artifact. Saving and loading values: :mod:`.artifacts`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .marshal import file_digest

FORMAT = 1


def atomic_dir(path: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary directory, then rename it to ``path``: never a half-written artifact.

    An old ``path`` goes first (a missing artifact is safe, a corrupt one is not), so its
    pages are freed before the new data is written, as when a file is overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# Files up to this size also get their sha256 recorded (re-reading a file just written costs
# little); larger ones are checked by size, which catches the usual damage: a cut file.
DIGEST_MAX_BYTES = 16 << 20


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` with the size (and digest) of every data file beside it."""
    meta = {**meta, "files": _file_facts(directory)}
    (directory / "meta.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")


def _file_facts(directory: Path) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("*")):
        if path.name == "meta.json" or not path.is_file():
            continue
        size = path.stat().st_size
        fact: dict[str, Any] = {"size": size}
        if size <= DIGEST_MAX_BYTES:
            fact["sha256"] = file_digest(path)
        facts[path.relative_to(directory).as_posix()] = fact
    return facts


class DamagedValue(Exception):
    """A saved value's files differ from what was saved (cut, edited or missing)."""

    def __init__(self, variable: str, path: Path, reason: str) -> None:
        super().__init__(
            f"the saved value of {variable!r} is damaged ({reason}, under {path}); it cannot "
            "be loaded. The local engine recomputes a damaged cache entry on the next run"
        )
        self.variable = variable
        self.reason = reason


def damage(path: str | Path, meta: dict[str, Any], *, digests: bool = True) -> str | None:
    """Why the variable directory ``path`` no longer holds what was saved, or None.

    Sizes are always compared (a ``stat``); ``digests`` also re-hashes the small files.
    Directories saved before sizes were recorded pass.
    """
    for rel, fact in (meta.get("files") or {}).items():
        file = Path(path) / rel
        try:
            size = file.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if size != fact.get("size"):
            return f"{rel} has {size} bytes, {fact.get('size')} were saved"
        if digests and fact.get("sha256") and file_digest(file) != fact["sha256"]:
            return f"{rel} changed since it was saved (sha256 differs)"
    return None


def read_meta(path: str | Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
    return meta
