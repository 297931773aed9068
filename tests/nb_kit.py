"""Small tagged notebooks for tests that build or edit their own.

nbformat is imported only when a notebook is built: it is slow to import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def cell(src: str, *tags: str) -> Any:
    """A code cell carrying ``tags`` (``step:x``, ``prev:y``, ``imports``...)."""
    from nbformat.v4 import new_code_cell

    c = new_code_cell(src)
    c.metadata["tags"] = list(tags)
    return c


def write_notebook(path: Path, *cells: Any) -> Path:
    """A Python 3 notebook of ``cells`` written to ``path``."""
    import nbformat
    from nbformat.v4 import new_notebook

    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, path)
    return path


def edit_cell(path: Path, index: int, change: Callable[[str], str]) -> None:
    """Rewrite the source of cell ``index`` of the notebook at ``path`` (it must change)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cell = data["cells"][index]
    source = "".join(cell["source"])
    cell["source"] = change(source)
    assert cell["source"] != source, f"cell {index} of {path} is unchanged"
    path.write_text(json.dumps(data), encoding="utf-8")
