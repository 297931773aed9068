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


_UNSET: Any = object()


def _as_cell(item: Any) -> Any:
    """A cell as is; ``(source, tags)`` a code cell (a str tag is one tag); a str markdown."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    if isinstance(item, str):
        return new_markdown_cell(item)
    if isinstance(item, tuple):
        source, tags = item
        built = new_code_cell(source)
        if tags:  # an untagged cell has no tags key, as JupyterLab writes it
            built.metadata["tags"] = [tags] if isinstance(tags, str) else list(tags)
        return built
    return item


def notebook(*cells: Any, kubeflow: Any = _UNSET) -> Any:
    """An in-memory Python 3 notebook (an ``nbformat.NotebookNode``).

    ``cells`` are cells, ``(source, tags)`` pairs or markdown strings; ``kubeflow`` becomes
    the notebook-level ``kubeflow_notebook`` metadata when given.
    """
    from nbformat.v4 import new_notebook

    nb = new_notebook(cells=[_as_cell(c) for c in cells])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    if kubeflow is not _UNSET:
        nb.metadata["kubeflow_notebook"] = kubeflow
    return nb


def write_notebook(path: Path, *cells: Any, kubeflow: Any = _UNSET) -> Path:
    """A Python 3 notebook of ``cells`` (as for :func:`notebook`) written to ``path``."""
    import nbformat

    nbformat.write(notebook(*cells, kubeflow=kubeflow), path)
    return path


def edit_cell(path: Path, index: int, change: Callable[[str], str]) -> None:
    """Rewrite the source of cell ``index`` of the notebook at ``path`` (it must change)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cell = data["cells"][index]
    source = "".join(cell["source"])
    cell["source"] = change(source)
    assert cell["source"] != source, f"cell {index} of {path} is unchanged"
    path.write_text(json.dumps(data), encoding="utf-8")
