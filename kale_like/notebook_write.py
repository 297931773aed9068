"""Writing cell tags into a notebook file: the one place kale_like changes a ``.ipynb``.

Beside :mod:`kale_like.notebook` (the reader). Only ``metadata.tags`` of the given code
cells change; everything else (outputs, other metadata, the source's line lists) is kept
as it was. Files are replaced atomically (temporary file in the same folder, fsync,
rename) and keep their permissions.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError, NotebookError
from .fsutil import write_text_atomic

__all__ = ["apply_tags", "dump_notebook", "write_notebook_atomic"]


def apply_tags(raw: Mapping[str, Any], tags: Mapping[int, Sequence[str]]) -> dict[str, Any]:
    """A deep copy of the notebook JSON ``raw`` with ``tags[i]`` as the tags of cell ``i``
    (an empty list removes the tags key)."""
    out: dict[str, Any] = json.loads(json.dumps(raw))
    cells = out.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("not a notebook: 'cells' is not a list", kind="not-a-notebook")
    for index, new in tags.items():
        if not 0 <= index < len(cells) or cells[index].get("cell_type") != "code":
            raise InputError(f"cell {index + 1} is not a code cell", kind="bad-cell", cell=index)
        meta = cells[index].setdefault("metadata", {})
        if new:
            meta["tags"] = list(new)
        else:
            meta.pop("tags", None)
    return out


def dump_notebook(raw: Mapping[str, Any]) -> str:
    """The notebook as Jupyter writes it (nbformat: indent 1, sorted keys, a final newline)."""
    return json.dumps(raw, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_notebook_atomic(
    path: str | os.PathLike[str], raw: Mapping[str, Any], *, expect_sha256: str | None = None
) -> None:
    """Replace ``path`` with ``raw`` atomically. With ``expect_sha256``, refuse (exit 2,
    nothing written) if the file changed since it was read (e.g. saved from Jupyter)."""
    target = Path(path)
    data = dump_notebook(raw).encode("utf-8")
    mode = 0o644  # a new file: what Jupyter itself creates under the usual umask
    if target.exists():
        if expect_sha256 is not None:
            now = hashlib.sha256(target.read_bytes()).hexdigest()
            if now != expect_sha256:
                raise InputError(
                    f"{target} changed while the suggestion was computed; it was not written",
                    kind="notebook-changed",
                    path=str(target),
                    fix="run the command again",
                )
        mode = stat.S_IMODE(target.stat().st_mode)
    # mkstemp makes 0600: keep the notebook's own permissions; fsync: it is the user's file.
    write_text_atomic(target, data, mode=mode, fsync=True)
