"""Small tagged notebooks written with nbformat, for tests that build their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def cell(src: str, *tags: str) -> Any:
    """A code cell carrying ``tags`` (``step:x``, ``prev:y``, ``imports``...)."""
    c = new_code_cell(src)
    c.metadata["tags"] = list(tags)
    return c


def write_notebook(path: Path, *cells: Any) -> Path:
    """A Python 3 notebook of ``cells`` written to ``path``."""
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, path)
    return path
