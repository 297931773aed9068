"""Hostile probes, consistency (issue 12, item 17): a step split around another step whose
parts need that step's values, invalid notebook-level settings and volumes, pip options in
the notebook's requirements: refused at analysis (exit 2), as the same input elsewhere is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _kit import cli, top_to_bottom
from nb_kit import cell, write_notebook


def _split(path: Path, *b_tags: str, second: str = "step:a") -> Path:
    """Step a writes x; step b reads x and writes y; a's second cell reads y."""
    return write_notebook(
        path,
        cell("x = 1", "step:a"),
        cell("y = x + 1", "step:b", *b_tags),
        cell("z = y * 10", second),
        cell("print(z)", "pipeline-metrics"),
    )


# -- 17a. a step split around a step it needs is refused --------------------------------
@pytest.mark.parametrize("b_tags", [(), ("prev:a",)])
def test_split_step_with_a_data_cycle_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], b_tags: tuple[str, ...]
) -> None:
    nb = _split(tmp_path / "nb.ipynb", *b_tags)
    code, out, err = cli(capsys, "analyze", nb)
    assert code == 2, out + err
    assert "Traceback" not in err
    # Both cells of the step (numbered as Jupyter shows them), the variables, the fix.
    assert "cell 1" in err and "cell 3" in err and "step 'a'" in err and "'b'" in err
    assert "'y'" in err and "'x'" in err and "cycle" in err
    assert "fix: give the later part its own step: tag cell 3 step:a_2" in err
    code, out, err = cli(capsys, "analyze", nb, "--format", "json")
    assert code == 2
    assert "step:a_2" in err


def test_split_step_that_cannot_see_the_step_between_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No cycle, but step a (first cell above b) can never receive b's y.
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("x = 1", "step:a"),
        cell("y = 2", "step:b"),
        cell("z = x + y", "step:a"),
    )
    code, _, err = cli(capsys, "analyze", nb)
    assert code == 2 and "'y'" in err and "step:a_2" in err and "Traceback" not in err


def test_the_suggested_fix_runs_like_the_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _split(tmp_path / "nb.ipynb", second="step:a_2")
    code, out, err = cli(capsys, "run", nb, "--json", "--run-root", tmp_path / "root")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "succeeded"
    assert data["metrics"] == top_to_bottom(nb, ["z"]) == {"z": 20}


def test_a_split_step_that_needs_nothing_between_stays_one_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Kale's rule: the same step name on two cells merges them; harmless here.
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("x = 1", "step:a"),
        cell("y = x + 1", "step:b"),
        cell("w = x * 3", "step:a"),
        cell("print(w)\nprint(y)", "pipeline-metrics"),
    )
    code, out, err = cli(capsys, "analyze", nb, "--format", "json")
    assert code == 0, err
    steps = {s["name"]: s["cells"] for s in json.loads(out)["steps"]}
    assert steps == {"a": [0, 2], "b": [1]}
