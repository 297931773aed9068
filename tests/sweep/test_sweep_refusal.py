"""``sweep`` refuses a notebook ``run`` refuses: same exit code, same message naming the cell,
before any trial runs or any sweep folder is written (also with ``-p`` and ``--resume``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from nb_kit import cell, edit_cell, write_notebook
from sweep_kit import FakeEngine

from kale_like.cli import main

SWEEP_MODULE = importlib.import_module("kale_like.api.sweeps")

SWEEP = ("--param", "scale=choice:1,2", "--objective", "total")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(SWEEP_MODULE, "_default_run_fn", lambda: fake)
    return fake


def _notebook(path: Path, metric: str) -> Path:
    """Parameters, two steps, and a metrics cell printing ``metric`` (cell 4 in Jupyter)."""
    return write_notebook(
        path,
        cell("scale = 1.0\nn = 3", "pipeline-parameters"),
        cell("data = list(range(n))", "step:load"),
        cell("total = sum(data) * scale", "step:transform", "prev:load"),
        cell(f"print({metric})", "pipeline-metrics"),
    )


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.replace(f"kale-like {argv[0]}", "kale-like VERB")


@pytest.mark.parametrize("fixed", [(), ("-p", "n", "4")])
def test_sweep_refuses_what_run_refuses(
    engine: FakeEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fixed: tuple[str, ...],
) -> None:
    nb = _notebook(tmp_path / "bad.ipynb", "missing")
    root = tmp_path / "root"
    run_code, run_err = _refusal(capsys, "run", str(nb), "--run-root", str(root), *fixed)
    assert run_code == 2
    assert "undefined-metric" in run_err or "'missing'" in run_err
    assert "cell 4" in run_err  # the metrics cell, numbered as JupyterLab does
    sweep_code, sweep_err = _refusal(
        capsys, "sweep", str(nb), "--run-root", str(root), *SWEEP, *fixed
    )
    assert (sweep_code, sweep_err) == (run_code, run_err)
    assert engine.calls == []
    assert not (root / "sweeps").exists()


def test_resume_refuses_a_notebook_made_invalid(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _notebook(tmp_path / "nb.ipynb", "total")
    root = tmp_path / "root"
    assert main(["sweep", str(nb), "--run-root", str(root), *SWEEP, "--json"]) == 0
    (sweep_dir,) = (root / "sweeps").iterdir()
    calls = len(engine.calls)
    capsys.readouterr()
    edit_cell(nb, 3, lambda src: src.replace("total", "missing"))
    run_code, run_err = _refusal(capsys, "run", str(nb), "--run-root", str(root))
    code, err = _refusal(capsys, "sweep", "--resume", sweep_dir.name, "--run-root", str(root))
    assert (code, err) == (run_code, run_err)
    assert code == 2 and "cell 4" in err
    assert len(engine.calls) == calls
