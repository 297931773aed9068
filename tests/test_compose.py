"""Composition (``notebook:NAME``, Kale 2.3): referenced notebooks inlined as sub-pipelines.

Ground truth: the notebooks' cells run in one namespace in Kale's order (the parameters,
then per referenced notebook its imports and functions, then its step cells, in the main
notebook's reading order), computed here by plain ``exec`` of the same sources.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, edit_cell, write_notebook

from kale_like.api.execution import run
from kale_like.cli import main

A_PARAMS = "lr = 0.5"  # the main notebook's lr wins
A_IMPORTS = "import math"
A_FUNCTIONS = "def scale(v):\n    return v * 2"
A_LOAD = "data = [1, 2, 3, 4]\nroot = math.sqrt(16)"
A_SCALED = "scaled = [scale(v) for v in data]"
B_FUNCTIONS = "def scale(v):\n    return v * 10"  # same name, another body: per-notebook
B_FIT = "total = sum(scale(v) for v in scaled)"
C_REPORT = 'summary = {"total": total, "lr": lr, "n": len(data), "root": root}'
MAIN_PARAMS = "lr = 0.1"
MIXED_HELD = "bonus = 1"
MIXED_FINAL = 'final = summary["total"] * lr + bonus + len(scaled)'


def _ref(name: str, path: str | None = None) -> Any:
    c = cell("", f"notebook:{name}")
    if path is not None:
        c.metadata["notebook_path"] = path
    return c


def _subs(d: Path) -> None:
    write_notebook(
        d / "sub_a.ipynb",
        cell(A_PARAMS, "pipeline-parameters"),
        cell(A_IMPORTS, "imports"),
        cell(A_FUNCTIONS, "functions"),
        cell(A_LOAD, "step:load"),
        cell(A_SCALED, "step:scaled", "prev:load"),
    )
    write_notebook(d / "sub_b.ipynb", cell(B_FUNCTIONS, "functions"), cell(B_FIT, "step:fit"))
    write_notebook(
        d / "sub_c.ipynb", cell(C_REPORT, "step:report"), cell("print(total)", "pipeline-metrics")
    )


def _main(d: Path, *extra: Any, name: str = "main.ipynb") -> Path:
    from nbformat.v4 import new_markdown_cell

    return write_notebook(
        d / name,
        new_markdown_cell("# composition"),
        cell(MAIN_PARAMS, "pipeline-parameters"),
        _ref("sub_a", "./sub_a.ipynb"),
        _ref("sub_b"),  # default path: sub_b.ipynb beside the main notebook
        _ref("sub_c"),
        *extra,
    )


@pytest.fixture
def composed(tmp_path: Path) -> Path:
    _subs(tmp_path)
    _main(tmp_path)
    _main(tmp_path, cell(MIXED_HELD), cell(MIXED_FINAL, "step:final"), name="mixed.ipynb")
    return tmp_path


def _top_to_bottom(mixed: bool) -> dict[str, Any]:
    """Kale's order in one namespace; sub_a's own lr is overridden by the main one."""
    ns: dict[str, Any] = {}
    order = [MAIN_PARAMS, A_IMPORTS, A_FUNCTIONS, A_LOAD, A_SCALED, B_FUNCTIONS, B_FIT, C_REPORT]
    if mixed:
        order += [MIXED_HELD, MIXED_FINAL]
    for src in order:
        exec(src, ns)
    return ns


def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v))


@pytest.mark.parametrize("mixed", [False, True])
def test_run_matches_flattened_top_to_bottom(composed: Path, mixed: bool) -> None:
    nb = composed / ("mixed.ipynb" if mixed else "main.ipynb")
    result = run(nb, run_root=composed / "root", keep_values=True)
    assert result.status == "succeeded", result
    truth = _top_to_bottom(mixed)
    names = ["data", "scaled", "total", "summary"] + (["final"] if mixed else [])
    for name in names:
        assert _plain(result.values[name]) == _plain(truth[name]), name
    assert result.metrics["total"] == truth["total"] == 200  # sub_b's own scale()
    assert truth["summary"]["lr"] == 0.1


def test_analyze_shows_notebooks_and_edges(
    composed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(composed / "mixed.ipynb"), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    steps = {s["name"]: s for s in out["steps"]}
    assert steps["load"]["notebook"] == "sub_a.ipynb"
    assert steps["fit"]["notebook"] == "sub_b.ipynb"
    assert "notebook" not in steps["final"]
    assert steps["fit"]["inputs"] == {"scaled": "scaled"}  # across notebooks
    assert steps["report"]["inputs"] == {"total": "fit", "data": "load", "root": "load"}
    assert steps["report"]["parameters"] == ["lr"]
    assert out["pipeline"]["parameters"]["lr"]["default"] == 0.1  # the main one wins
    assert steps["final"]["cells"] == [5, 6]  # the untagged cell after notebook:sub_c joins
    # Kale's reading order: the main step runs after every unit above it.
    assert set(steps["final"]["after"]) >= {"report"}
    assert main(["analyze", str(composed / "mixed.ipynb"), "--format", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert 'subgraph nb1["sub_b.ipynb"]' in mermaid
    assert main(["analyze", str(composed / "mixed.ipynb")]) == 0
    assert "fit  [sub_b.ipynb cell 2]" in capsys.readouterr().out


def test_compile_and_verify(composed: Path, tmp_path: Path) -> None:
    from kale_like.verification import verify

    assert main(["compile", str(composed / "mixed.ipynb"), "-o", str(tmp_path / "out")]) == 0
    assert any((tmp_path / "out").glob("*.yaml"))
    report = verify(composed / "mixed.ipynb", run_root=composed / "root")
    assert report.ok, report.to_text()


def test_cache_reruns_only_what_an_edit_in_a_referenced_notebook_reaches(composed: Path) -> None:
    nb = composed / "mixed.ipynb"
    root = composed / "root"
    # keep_values on both runs: an entry without saved values is recomputed for such a run
    assert run(nb, run_root=root, keep_values=True).status == "succeeded"
    edit_cell(composed / "sub_b.ipynb", 0, lambda s: s.replace("* 10", "* 100"))  # prelude
    again = run(nb, run_root=root, keep_values=True)
    status = {n: s.status for n, s in again.steps.items()}
    assert status["load"] == status["scaled"] == "cached"
    assert status["fit"] == status["report"] == status["final"] == "succeeded"
    assert again.values["total"] == 2000
    edit_cell(composed / "sub_c.ipynb", 0, lambda s: s + '\nsummary["x"] = 1')
    third = run(nb, run_root=root)
    status = {n: s.status for n, s in third.steps.items()}
    assert status["fit"] == "cached" and status["report"] == "succeeded"


def _bad(d: Path, capsys: pytest.CaptureFixture[str], kind: str, *words: str) -> None:
    from kale_like.api.analysis import load_pipeline
    from kale_like.errors import InputError

    out = d / "out"
    assert main(["compile", str(d / "main.ipynb"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert not out.exists()
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    with pytest.raises(InputError) as info:
        load_pipeline(str(d / "main.ipynb"))
    assert info.value.kind == kind


def test_code_in_notebook_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _subs(tmp_path)
    c = cell("# a comment is fine\nx = 1", "notebook:sub_a")
    write_notebook(tmp_path / "main.ipynb", c, _ref("sub_b"))
    _bad(tmp_path, capsys, "code-in-notebook-cell", "cell 1", "main.ipynb", "line 2")


def test_missing_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_notebook(tmp_path / "main.ipynb", cell("a = 1", "step:a"), _ref("nowhere"))
    _bad(tmp_path, capsys, "missing-notebook", "cell 2", "nowhere.ipynb")


def test_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_notebook(tmp_path / "a.ipynb", cell("x = 1", "step:x"), _ref("b"))
    write_notebook(tmp_path / "b.ipynb", cell("y = 1", "step:y"), _ref("a"))
    write_notebook(tmp_path / "main.ipynb", _ref("a"))
    _bad(tmp_path, capsys, "composition-cycle", "a.ipynb -> b.ipynb -> a.ipynb", "b.ipynb, cell 2")


def test_self_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_notebook(tmp_path / "main.ipynb", cell("x = 1", "step:x"), _ref("main"))
    _bad(tmp_path, capsys, "composition-cycle", "main.ipynb -> main.ipynb")


def test_orphan_code_after_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _subs(tmp_path)
    write_notebook(tmp_path / "main.ipynb", _ref("sub_a"), cell("z = 1"))
    _bad(tmp_path, capsys, "orphan-code", "cell 2")


def test_clashing_step_names_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subs(tmp_path)
    write_notebook(
        tmp_path / "sub_b.ipynb",
        cell("more = [1]", "step:load"),
        cell(B_FIT, "step:fit", "prev:load"),
    )
    _main(tmp_path)
    _bad(
        tmp_path, capsys, "step-name-clash", "sub_b.ipynb, cell 1", "sub_a.ipynb", "step:sub_b_load"
    )
    # The suggested fix: rename the step and the prev: tags that name it.
    data = json.loads((tmp_path / "sub_b.ipynb").read_text())
    data["cells"][0]["metadata"]["tags"] = ["step:sub_b_load"]
    data["cells"][1]["metadata"]["tags"] = ["step:fit", "prev:sub_b_load"]
    (tmp_path / "sub_b.ipynb").write_text(json.dumps(data))
    assert main(["compile", str(tmp_path / "main.ipynb"), "-o", str(tmp_path / "out")]) == 0


def test_nested_references(tmp_path: Path) -> None:
    write_notebook(tmp_path / "inner.ipynb", cell("y = x + 1", "step:inner"))
    write_notebook(tmp_path / "outer.ipynb", cell("x = 1", "step:outer"), _ref("inner"))
    write_notebook(tmp_path / "main.ipynb", _ref("outer"), cell("z = y * 2", "step:last"))
    result = run(tmp_path / "main.ipynb", run_root=tmp_path / "root", keep_values=True)
    assert result.status == "succeeded"
    assert result.values["z"] == 4


def test_kales_composition_examples(kale_examples: Path, tmp_path: Path) -> None:
    from kale_like.verification import verify

    d = tmp_path / "composition"
    shutil.copytree(kale_examples / "composition", d)
    result = run(d / "main.ipynb", run_root=tmp_path / "root")
    assert result.status == "succeeded"
    assert result.metrics["prediction"] == 30.0
    report = verify(d / "main_mixed.ipynb", run_root=tmp_path / "root")
    assert report.ok, report.to_text()


def test_a_referenced_notebooks_own_prelude_wins_over_an_earlier_step(tmp_path: Path) -> None:
    # sub_y's imports cell binds `limit`; an earlier step of sub_x also writes `limit`. In the
    # flattened run sub_y's prelude runs right before its steps, so its own value wins.
    write_notebook(tmp_path / "sub_x.ipynb", cell("limit = 1\nxs = [1, 2, 3]", "step:make"))
    write_notebook(
        tmp_path / "sub_y.ipynb",
        cell("limit = 5", "imports"),
        cell("kept = [x for x in xs if x < limit]\nn_kept = len(kept)", "step:keep"),
        cell("print(n_kept)", "pipeline-metrics"),
    )
    nb = write_notebook(tmp_path / "main.ipynb", _ref("sub_x"), _ref("sub_y"))
    ns: dict[str, Any] = {}
    for src in (
        "limit = 1\nxs = [1, 2, 3]",
        "limit = 5",
        "kept = [x for x in xs if x < limit]\nn_kept = len(kept)",
    ):
        exec(src, ns)
    result = run(nb, run_root=tmp_path / "root")
    assert result.status == "succeeded", result
    assert result.metrics == {"n_kept": ns["n_kept"]} == {"n_kept": 3}
