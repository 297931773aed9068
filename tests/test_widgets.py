"""The ipywidgets DeployPanel: real local runs, compile and sweep through kale_like.api,
checked against running the notebook top to bottom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from extras import require
from nb_kit import write_notebook

require("ipywidgets")

from kale_like.widgets import DeployPanel, metrics_html, steps_table  # noqa: E402

CELLS = [
    ("import math", ["imports"]),
    ("n = 5", ["pipeline-parameters"]),
    ("xs = [i * i for i in range(n)]", ["step:load"]),
    ("total = sum(xs)\nbiggest = max(xs)", ["step:summarize"]),
    ("ratio = total / biggest", ["step:report"]),
    ("print(ratio)", ["pipeline-metrics"]),
]


def top_to_bottom(n: int) -> float:
    """Ground truth: the code cells executed in order with the parameter overridden."""
    ns: dict[str, Any] = {}
    for source, tags in CELLS:
        if "pipeline-metrics" in tags:
            continue
        exec(source, ns)
        if "pipeline-parameters" in tags:
            ns["n"] = n
    return float(ns["ratio"])


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "pipe.ipynb", *CELLS)


def test_panel_shows_parameters_and_metrics_choices(notebook: Path) -> None:
    panel = DeployPanel(notebook, run_root=notebook.parent / "runs")
    assert list(panel.params) == ["n"]
    assert panel.params["n"].value == "5"
    assert list(panel.objective.options) == ["ratio"]
    assert panel.objective.value == "ratio"
    descriptions = [
        b.description for b in (panel.run_button, panel.compile_button, panel.sweep_button)
    ]
    assert descriptions == ["Run locally", "Compile", "Sweep"]


def test_run_locally_with_a_parameter(notebook: Path) -> None:
    panel = DeployPanel(notebook, run_root=notebook.parent / "runs")
    panel.params["n"].value = "4"
    panel.run(wait=True)
    assert "run: succeeded" in panel.status.value, panel.status.value
    assert panel.result.metrics["ratio"] == pytest.approx(top_to_bottom(4))
    for step in ("load", "summarize", "report"):
        assert f"<td>{step}</td>" in panel.progress.value
    assert panel.progress.value.count("succeeded") + panel.progress.value.count("cached") == 3
    assert str(round(top_to_bottom(4), 4))[:5] in panel.metrics.value


def test_a_failing_step_names_the_step_and_cell(tmp_path: Path) -> None:
    write_notebook(tmp_path / "fail.ipynb", ("x = 1", ["step:a"]), ("y = x / 0", ["step:b"]))
    panel = DeployPanel(tmp_path / "fail.ipynb", run_root=tmp_path / "runs")
    panel.run(wait=True)
    assert "run failed in step b" in panel.status.value
    assert "ZeroDivisionError" in panel.status.value
    assert "(cell 2)" in panel.status.value


def test_a_bad_notebook_shows_the_error_instead_of_raising(tmp_path: Path) -> None:
    write_notebook(tmp_path / "bad.ipynb", ("x = 1", ["step:Bad-Name"]))
    panel = DeployPanel(tmp_path / "bad.ipynb")
    assert "failed (cell 1)" in panel.status.value
    assert "Bad-Name" in panel.status.value


def test_compile_writes_the_pipeline(notebook: Path, tmp_path: Path) -> None:
    panel = DeployPanel(notebook, output_dir=tmp_path / "out")
    panel.compile(wait=True)
    assert "compile: succeeded" in panel.status.value, panel.status.value
    assert panel.result.dsl_path.is_file()
    assert panel.result.yaml_path.is_file()


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_sweep_finds_the_best_trial(notebook: Path, direction: str) -> None:
    panel = DeployPanel(notebook, run_root=notebook.parent / "runs")
    panel.sweep_specs["n"].value = "choice:2,3"
    panel.direction.value = direction  # grid (the default): every choice once
    panel.sweep(wait=True)
    assert "sweep: succeeded" in panel.status.value, panel.status.value
    best = panel.result.to_json()["best"]
    expected = {n: top_to_bottom(n) for n in (2, 3)}
    pick = max if direction == "maximize" else min
    best_n = pick(expected, key=lambda n: expected[n])
    assert best["parameters"] == {"n": best_n}
    assert best["objective"] == pytest.approx(expected[best_n])


def test_sweep_without_a_space_asks_for_one(notebook: Path) -> None:
    panel = DeployPanel(notebook, run_root=notebook.parent / "runs")
    panel.sweep(wait=True)
    assert "give a sweep spec" in panel.status.value


def test_tables_escape_names_and_values() -> None:
    table = steps_table({"<b>": {"status": "succeeded", "seconds": 1.25}})
    assert "&lt;b&gt;" in table and "1.2 s" in table
    assert metrics_html({"m": "<script>"}) == "<ul><li><b>m</b>: &lt;script&gt;</li></ul>"
