"""Reading notebooks: paths, nodes and dicts; every way a file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kale_like.errors import NotebookError, TagError
from kale_like.notebook import read_notebook

META = {
    "kernelspec": {"name": "python3", "language": "python", "display_name": "P"},
    "language_info": {"name": "python", "version": "3.11.7"},
}


def make() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# t"),
            new_code_cell(["x = 1\n", "y = 2"], metadata={"tags": ["step:a", "stpe:b"]}),
        ],
        metadata=META,
    )


def test_path_node_and_dict_agree(tmp_path: Path) -> None:
    nb = make()
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    by_path = read_notebook(path)
    by_node = read_notebook(nb)
    by_dict = read_notebook(json.loads(path.read_text()))
    for src in (by_path, by_node, by_dict):
        assert [c.cell_type for c in src.cells] == ["markdown", "code"]
        assert src.cells[1].source == "x = 1\ny = 2"
        assert [t.text for t in src.cells[1].tags] == ["step:a"]
        assert src.python_version == "3.11"
    assert by_path.path == str(path) and by_path.stem == "n"
    import hashlib

    assert by_path.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_tag_is_a_warning_with_suggestion() -> None:
    src = read_notebook(make())
    (diag,) = src.diagnostics
    assert (diag.kind, diag.severity, diag.cell) == ("unknown-tag", "warning", 1)
    assert "step" in (diag.fix or "")


def test_bad_known_tag_raises_with_cell() -> None:
    nb = make()
    nb.cells[1].metadata["tags"] = ["limit:memory:lots"]
    with pytest.raises(TagError) as info:
        read_notebook(nb)
    assert (info.value.cell, info.value.tag) == (1, "limit:memory:lots")


@pytest.mark.parametrize(
    "content, kind",
    [
        (b'{"cells": [', "not-json"),
        (b"\xff\xfe", "not-json"),
        (b"[1, 2]", "not-a-notebook"),
        (b'{"a": 1}', "not-a-notebook"),
    ],
)
def test_not_a_notebook(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError) as info:
        read_notebook(path)
    assert info.value.kind == kind
    assert info.value.exit_code == 2


def _one_cell(cell: object) -> dict:
    return {"cells": [cell], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}


@pytest.mark.parametrize(
    "raw, cell, words",
    [
        # Tags that would otherwise be dropped silently, changing the pipeline.
        (
            _one_cell({"cell_type": "code", "source": "a = 1", "metadata": {"tags": "step:a"}}),
            0,
            "'metadata.tags' must be a list of strings",
        ),
        (
            _one_cell({"cell_type": "code", "source": "a = 1", "metadata": {"tags": [1]}}),
            0,
            "'metadata.tags' must be a list of strings",
        ),
        (
            _one_cell({"cell_type": "code", "source": ["a = 1", 2], "metadata": {}}),
            0,
            "'source' must be text",
        ),
        (_one_cell({"cell_type": "code", "source": 7, "metadata": {}}), 0, "'source' must be text"),
        ({"cells": [], "nbformat": "4", "metadata": {}}, None, "'nbformat' is '4'"),
    ],
)
def test_malformed_structure_is_named(raw: dict, cell: int | None, words: str) -> None:
    with pytest.raises(NotebookError) as info:
        read_notebook(raw)
    assert info.value.kind == "not-a-notebook" and info.value.cell == cell
    assert words in str(info.value) and info.value.exit_code == 2


def test_kale_metadata_that_is_not_an_object_is_a_warning() -> None:
    raw = _one_cell({"cell_type": "code", "source": "a = 1", "metadata": {}})
    raw["metadata"]["kubeflow_notebook"] = "x"
    nb = read_notebook(raw)
    assert nb.kale_metadata == {}
    assert [(d.severity, d.kind) for d in nb.diagnostics] == [("warning", "ignored-metadata")]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as info:
        read_notebook(tmp_path / "nope.ipynb")
    assert info.value.kind == "not-found"


def test_kernel_and_empty() -> None:
    nb = make()
    nb.metadata["kernelspec"]["language"] = "R"
    with pytest.raises(NotebookError) as info:
        read_notebook(nb)
    assert (info.value.kind, info.value.cell) == ("unsupported-kernel", None)
    with pytest.raises(NotebookError) as info:
        read_notebook(new_notebook(cells=[], metadata=META))
    assert info.value.kind == "empty"
    with pytest.raises(NotebookError) as info:
        read_notebook(new_notebook(cells=[new_markdown_cell("x")], metadata=META))
    assert info.value.kind == "empty"


def test_nbformat_3_is_upgraded(corpus_dir: Path) -> None:
    src = read_notebook(corpus_dir / "42_nbformat_v3.ipynb")
    assert [c.cell_type for c in src.cells] == ["markdown", "code", "code", "code"]
    assert [t.text for t in src.cells[2].tags] == ["step:total", "prev:load"]
    assert "upgraded-nbformat" in {d.kind for d in src.diagnostics}


def test_input_is_not_modified() -> None:
    nb = make()
    before = json.dumps(nb, sort_keys=True)
    read_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before
