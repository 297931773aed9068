"""Local sweeps with an injected engine: algorithms, failures, resume, the result files."""

from __future__ import annotations

import csv
import importlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sweep_kit import FakeEngine, linear_metrics, linear_pipeline

from kale_like.api.sweeps import Budget, sweep
from kale_like.errors import UsageError
from kale_like.model import Pipeline


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return linear_pipeline()


def _run(pipeline: Pipeline, tmp_path: Path, engine: FakeEngine, **kw: Any) -> Any:
    return sweep(pipeline, run_root=tmp_path / "root", run_fn=engine, **kw)


def test_grid_covers_the_whole_grid_and_finds_the_best(pipeline: Pipeline, tmp_path: Path) -> None:
    engine = FakeEngine()
    res = _run(
        pipeline,
        tmp_path,
        engine,
        params=["n=choice:2,4,6", "scale=range:0.5:1.5:0.5"],
        objective="mean",
        maximize=True,
        algorithm="grid",
    )
    expected = [{"n": n, "scale": s} for n, s in itertools.product([2, 4, 6], [0.5, 1.0, 1.5])]
    assert [t.parameters for t in res.trials] == expected
    assert [c["n"] for c in engine.calls] == [2, 2, 2, 4, 4, 4, 6, 6, 6]
    best = max(expected, key=lambda p: linear_metrics(p["n"], p["scale"])["mean"])
    assert res.best.parameters == best
    # load reads only n: it ran once per value of n; transform once per (n, scale)
    assert engine.executed == {"load": 3, "transform": 9, "summarize": 9}


def test_json_contract_and_files(pipeline: Pipeline, tmp_path: Path) -> None:
    res = _run(
        pipeline,
        tmp_path,
        FakeEngine(),
        params={"scale": "choice:1,2"},
        objective="total",
        algorithm="grid",
    )
    out = res.to_json()
    assert set(out) == {"sweep_id", "objective", "trials", "best"}
    assert out["objective"] == {"metric": "total", "direction": "minimize"}
    assert [t["parameters"] for t in out["trials"]] == [{"scale": 1.0}, {"scale": 2.0}]
    assert all(set(t) == {"parameters", "objective", "status", "seconds"} for t in out["trials"])
    assert out["best"] == {"parameters": {"scale": 1.0}, "objective": 55.0}
    folder = tmp_path / "root" / "sweeps" / res.sweep_id
    assert Path(res.sweep_dir) == folder
    for name in ("sweep.json", "trials.csv", "trials.json", "best.json", "plot.png"):
        assert (folder / name).is_file(), name
    assert (folder / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [(r["scale"], r["total"], r["status"]) for r in rows] == [
        ("1.0", "55.0", "succeeded"),
        ("2.0", "110.0", "succeeded"),
    ]
    assert json.loads((folder / "best.json").read_text())["parameters"] == {"scale": 1.0}


def test_repeated_trial_is_cached(pipeline: Pipeline, tmp_path: Path) -> None:
    engine = FakeEngine()
    first = _run(
        pipeline, tmp_path, engine, params=["scale=choice:2"], objective="mean", algorithm="grid"
    )
    again = _run(
        pipeline, tmp_path, engine, params=["scale=choice:2"], objective="mean", algorithm="grid"
    )
    assert first.trials[0].status == "succeeded"
    assert again.trials[0].status == "cached"


def test_random_is_reproducible_with_a_seed(pipeline: Pipeline, tmp_path: Path) -> None:
    kw = dict(
        params=["n=int:1:50", "scale=loguniform:0.01:10"],
        objective="mean",
        algorithm="random",
    )
    a = _run(pipeline, tmp_path / "a", FakeEngine(), seed=7, budget=Budget(trials=6), **kw)
    b = _run(
        pipeline, tmp_path / "b", FakeEngine(), seed=7, budget=Budget(trials=6, parallel=3), **kw
    )
    c = _run(pipeline, tmp_path / "c", FakeEngine(), seed=8, budget=Budget(trials=6), **kw)
    pa, pb, pc = ([t.parameters for t in r.trials] for r in (a, b, c))
    assert pa == pb and pa != pc
    assert len({json.dumps(p) for p in pa}) == 6
    assert all(isinstance(p["n"], int) and isinstance(p["scale"], float) for p in pa)


def test_tpe_runs_and_reports_the_best(pipeline: Pipeline, tmp_path: Path) -> None:
    res = _run(
        pipeline,
        tmp_path,
        FakeEngine(),
        params=["scale=uniform:0.1:3"],
        objective="mean",
        maximize=False,
        algorithm="tpe",
        budget=Budget(trials=8),
        seed=1,
    )
    assert len(res.trials) == 8
    values = [t.objective for t in res.trials]
    assert res.best.objective == min(values)


def test_failed_trials_are_recorded_until_max_failed(pipeline: Pipeline, tmp_path: Path) -> None:
    engine = FakeEngine(fail_when=lambda p: p["scale"] > 1)
    res = _run(
        pipeline,
        tmp_path,
        engine,
        params=["scale=choice:0.5,2,3,4,5"],
        objective="mean",
        algorithm="grid",
        budget=Budget(max_failed=2),
    )
    assert [t.status for t in res.trials] == ["succeeded", "failed", "failed", "failed"]
    assert res.status == "max-failed"
    assert "transform" in res.trials[1].error
    assert res.to_json()["trials"][1]["objective"] is None
    ok = _run(
        pipeline,
        tmp_path / "2",
        FakeEngine(fail_when=lambda p: p["scale"] == 2),
        params=["scale=choice:0.5,2,3"],
        objective="mean",
        algorithm="grid",
    )
    assert ok.status == "completed" and len(ok.trials) == 3


def test_interrupt_then_resume_runs_only_the_rest(pipeline: Pipeline, tmp_path: Path) -> None:
    engine = FakeEngine()

    def interrupting(notebook: Any, **kw: Any) -> Any:
        if len(engine.calls) == 3:
            raise KeyboardInterrupt
        return engine(notebook, **kw)

    nb = tmp_path / "nb.ipynb"  # resume re-reads the notebook: give the pipeline a path
    p = Pipeline(
        name=pipeline.name,
        steps=pipeline.steps,
        parameters=pipeline.parameters,
        metrics=pipeline.metrics,
        notebook_path=str(nb),
    )
    kw = dict(params=["n=choice:1,2,3", "scale=choice:1,2"], objective="mean", algorithm="grid")
    first = _run(p, tmp_path, interrupting, **kw)
    assert first.status == "interrupted" and len(first.trials) == 3
    state = json.loads((Path(first.sweep_dir) / "sweep.json").read_text())
    assert state["status"] == "interrupted" and len(state["results"]) == 3

    engine2 = FakeEngine()
    with pytest.MonkeyPatch.context() as mp:  # resume re-reads the notebook
        mp.setattr(importlib.import_module("kale_like.api.sweeps"), "_load_path", lambda path: p)
        done = sweep(None, resume=first.sweep_id, run_root=tmp_path / "root", run_fn=engine2)
    assert done.status == "completed"
    assert [t.parameters for t in done.trials] == [
        {"n": n, "scale": s} for n, s in itertools.product([1, 2, 3], [1.0, 2.0])
    ]
    assert [c["n"] for c in engine2.calls] == [2, 3, 3]  # only the unfinished ones


def test_objective_must_be_a_metric(pipeline: Pipeline, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="its metrics: mean, total") as info:
        _run(pipeline, tmp_path, FakeEngine(), params=["n=int:1:3"], objective="accuracy")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="no objective"):
        _run(pipeline, tmp_path, FakeEngine(), params=["n=int:1:3"])
    assert not (tmp_path / "root" / "sweeps").exists()  # nothing half-written


def test_katib_metadata_supplies_the_sweep(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "katib_metadata": {
                "parameters": [
                    {
                        "name": "scale",
                        "parameterType": "categorical",
                        "feasibleSpace": {"list": ["1", "3", "2"]},
                    }
                ],
                "objective": {"type": "maximize", "objectiveMetricName": "mean"},
                "algorithm": {"algorithmName": "grid"},
                "maxTrialCount": 12,
                "parallelTrialCount": 1,
                "maxFailedTrialCount": 0,
            }
        }
    }
    p = linear_pipeline(metadata=meta)
    res = sweep(p, run_root=tmp_path, run_fn=FakeEngine())
    assert [t.parameters["scale"] for t in res.trials] == [1.0, 3.0, 2.0]
    assert res.direction == "maximize" and res.best.parameters == {"scale": 3.0}
    # flags override the metadata
    res2 = sweep(
        p,
        params=["n=choice:3,4"],
        objective="total",
        maximize=False,
        run_root=tmp_path,
        run_fn=FakeEngine(),
    )
    assert res2.metric == "total" and res2.direction == "minimize"
    assert res2.best.parameters == {"n": 3}


def test_cancel_event_and_failing_callback_leave_a_resumable_sweep(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    import threading

    cancel = threading.Event()
    engine = FakeEngine()

    def run_then_cancel(notebook: Any, **kw: Any) -> Any:
        cancel.set()  # e.g. the UI's cancel button, pressed during the first trial
        return engine(notebook, **kw)

    kw = dict(
        params=["scale=choice:1,2,3"], objective="mean", algorithm="grid", budget=Budget(parallel=2)
    )
    res = _run(pipeline, tmp_path, run_then_cancel, cancel=cancel, **kw)
    assert res.status == "interrupted" and len(res.trials) == 1

    class Stop(Exception):
        pass

    def progress(event: Any) -> None:
        if event.kind == "finished":
            raise Stop  # a progress callback may cancel by raising

    with pytest.raises(Stop):
        _run(pipeline, tmp_path / "2", FakeEngine(), progress=progress, **kw)
    (folder,) = (tmp_path / "2" / "root" / "sweeps").iterdir()
    state = json.loads((folder / "sweep.json").read_text())
    assert state["status"] == "interrupted" and len(state["results"]) == 1
    assert (folder / "trials.csv").is_file()


def test_registered_algorithm(pipeline: Pipeline, tmp_path: Path) -> None:
    from kale_like import sweep as sweep_pkg
    from kale_like.sweep import algorithms

    class Descending:
        name = "descending"

        def __init__(self, dims: Any, **_: Any) -> None:
            self.values = sorted(dims[0].grid(), reverse=True)

        def ask(self, number: int) -> dict[str, Any]:
            return {"n": self.values[number]}

        def tell(self, trial: Any) -> None:
            pass

    with algorithms.algorithm_registry.scoped():  # the registration ends with the test
        sweep_pkg.register("descending", Descending)
        assert "descending" in sweep_pkg.names()
        res = _run(
            pipeline,
            tmp_path,
            FakeEngine(),
            params=["n=int:1:3"],
            objective="mean",
            algorithm="descending",
            budget=Budget(trials=3),
        )
        assert [t.parameters["n"] for t in res.trials] == [3, 2, 1]
        with pytest.raises(UsageError, match="no Katib counterpart"):
            sweep_pkg.katib_name("descending")
    assert "descending" not in sweep_pkg.names()


def test_tpe_without_optuna_is_an_actionable_environment_error(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kale_like.errors import EnvironmentProblem

    monkeypatch.setitem(sys.modules, "optuna", None)  # makes `import optuna` fail
    with pytest.raises(EnvironmentProblem) as info:
        _run(
            pipeline,
            tmp_path,
            FakeEngine(),
            params=["scale=uniform:0.1:1"],
            objective="mean",
            algorithm="tpe",
        )
    assert info.value.exit_code == 3
    assert info.value.fix == "pip install 'kale-like[sweep]'"
    assert not (tmp_path / "root" / "sweeps").exists()


def test_a_cancelled_run_stops_the_sweep_unrecorded(pipeline: Pipeline, tmp_path: Path) -> None:
    from kale_like.run_results import RunResult

    engine = FakeEngine()

    def cancelled_second(notebook: Any, **kw: Any) -> Any:
        if engine.calls:
            return RunResult("run-x", "cancelled")
        return engine(notebook, **kw)

    res = _run(
        pipeline,
        tmp_path,
        cancelled_second,
        params=["scale=choice:1,2,3"],
        objective="mean",
        algorithm="grid",
    )
    assert res.status == "interrupted"
    assert [t.parameters for t in res.trials] == [{"scale": 1.0}]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("ValueError: C too big", "step 'train' failed: ValueError: C too big"),
        # an engine whose summary already names the step and cell: said once, not twice
        (
            "step 'train' failed in cell 5: ValueError: C too big",
            "step 'train' failed in cell 5: ValueError: C too big",
        ),
    ],
)
def test_a_failed_trial_names_its_step_once(error: str, expected: str) -> None:
    from kale_like.run_results import RunResult, StepResult
    from kale_like.sweep.local import trial_from_run

    steps = {
        "load": StepResult("load", "succeeded"),
        "train": StepResult("train", "failed", error=error, cell=5),
    }
    result = RunResult(run_id="r1", status="failed", steps=steps)
    trial = trial_from_run(0, {"C": 3.0}, result, "accuracy")
    assert trial.error == expected
    assert trial.objective is None
