"""``kale-like sweep`` output and exit codes, with the engine replaced by a fake."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from sweep_kit import FakeEngine

from kale_like.cli import main

# by module object: `kale_like.api.sweep` may resolve to the function of the same name
SWEEP_MODULE = importlib.import_module("kale_like.api.sweeps")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(SWEEP_MODULE, "_default_run_fn", lambda: fake)
    return fake


# a grid search on 01_linear's `mean` metric
GRID = ("--objective", "mean", "--algorithm", "grid")


def _sweep(corpus_dir: Path, tmp_path: Path, *extra: str) -> int:
    return main(["sweep", str(corpus_dir / "01_linear.ipynb"), "--run-root", str(tmp_path), *extra])


def test_table_and_best_line(
    engine: FakeEngine, corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _sweep(
        corpus_dir, tmp_path, "--param", "scale=choice:3,1,2", "--param", "n=choice:4", *GRID
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["trial", "scale", "n", "objective", "status", "seconds"]
    rows = [line.split() for line in lines[1:4]]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("0", "3", "4", "succeeded"),
        ("1", "1", "4", "succeeded"),
        ("2", "2", "4", "succeeded"),
    ]
    assert lines[-1] == "best: mean=2.5 (minimize) with scale=1 n=4 (trial 1)"
    assert "3 trials, 3 ok, status completed" in err
    assert [c["n"] for c in engine.calls] == [4, 4, 4]


def test_all_failed_exits_1_with_null_best(
    monkeypatch: pytest.MonkeyPatch,
    corpus_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeEngine(fail_when=lambda p: True)
    monkeypatch.setattr(SWEEP_MODULE, "_default_run_fn", lambda: fake)
    code = _sweep(
        corpus_dir,
        tmp_path,
        "--param",
        "scale=choice:1,2,3,4,5",
        *GRID,
        "--max-failed",
        "1",
        "--json",
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["best"] is None
    assert [t["status"] for t in out["trials"]] == ["failed", "failed"]  # stopped after 2 > 1
    assert len(fake.calls) == 2


def test_interrupt_prints_the_resume_command(
    monkeypatch: pytest.MonkeyPatch,
    corpus_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeEngine()

    def interrupted(notebook: Any, **kw: Any) -> Any:
        if fake.calls:
            raise KeyboardInterrupt
        return fake(notebook, **kw)

    monkeypatch.setattr(SWEEP_MODULE, "_default_run_fn", lambda: interrupted)
    code = _sweep(corpus_dir, tmp_path, "--param", "scale=choice:1,2", *GRID)
    err = capsys.readouterr().err
    assert code == 130
    (folder,) = (tmp_path / "sweeps").iterdir()
    assert f"kale-like sweep --resume {folder.name} --run-root {tmp_path}" in err


def test_live_progress_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from kale_like.cli.sweep import _Table
    from kale_like.sweep.trials import SweepEvent, Trial

    table = _Table(tty=True)
    t0 = Trial(0, {"lr": 0.1}, objective=0.5, status="succeeded", seconds=1.0)
    table(SweepEvent("s", "started", number=0, parameters={"lr": 0.1}, total=2))
    table(SweepEvent("s", "started", number=1, parameters={"lr": 0.2}, total=2))
    table(SweepEvent("s", "finished", number=0, trial=t0, best=t0, total=2, finished=1))
    table(SweepEvent("s", "done", best=t0, total=2, finished=2))
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split() == ["0", "0.1", "0.5", "succeeded", "1.00", "*"]
    assert "[....................] 0/2 · running 0,1" in err
    assert "[##########..........] 1/2 · running 1 · best 0.5 (trial 0)" in err
    assert err.endswith("\r")  # the live line is cleared at the end


def test_fixed_parameters(
    engine: FakeEngine, corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _sweep(
        corpus_dir, tmp_path, "--param", "scale=choice:1,2", "-p", "n", "3", *GRID, "--json"
    )
    assert code == 0
    assert [c["n"] for c in engine.calls] == [3, 3]
    assert json.loads(capsys.readouterr().out)["best"] == {
        "parameters": {"scale": 1.0},
        "objective": 2.0,
    }
    assert (
        _sweep(
            corpus_dir, tmp_path, "--param", "n=choice:1,2", "-p", "n", "3", "--objective", "mean"
        )
        == 2
    )
    assert "both swept and fixed" in capsys.readouterr().err
    assert (
        _sweep(
            corpus_dir,
            tmp_path,
            "--param",
            "n=choice:1,2",
            "-p",
            "scale",
            "x",
            "--objective",
            "mean",
        )
        == 2
    )
    assert "parameter 'scale' expects float" in capsys.readouterr().err
