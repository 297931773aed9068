"""Local sweeps over a corpus notebook with the real local engine, through API and CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kale_like.api.execution import run
from kale_like.api.sweeps import Budget, sweep
from kale_like.cli import main

SCALES = [0.5, 1.5, 2.5]


@pytest.fixture(scope="module")
def linear(corpus_dir: Path) -> Path:
    return corpus_dir / "01_linear.ipynb"


def _record(run_root: Path, run_id: str) -> dict[str, Any]:
    return json.loads((run_root / "runs" / run_id / "run.json").read_text())


def test_sweep_matches_an_exhaustive_loop_and_shares_upstream(linear: Path, tmp_path: Path) -> None:
    # The oracle: one plain run per grid point, no sweep machinery, no shared cache.
    plain = {
        s: run(linear, parameters={"scale": s, "n": 6}, run_root=tmp_path / f"plain-{s}")
        for s in SCALES
    }
    assert all(r.status == "succeeded" for r in plain.values())
    best_scale = max(SCALES, key=lambda s: plain[s].metrics["mean"])

    root = tmp_path / "sweep-root"
    res = sweep(
        linear,
        params=[f"scale=choice:{','.join(map(str, SCALES))}"],
        parameters={"n": 6},
        objective="mean",
        maximize=True,
        algorithm="grid",
        budget=Budget(parallel=2),
        run_root=root,
    )
    assert res.status == "completed"
    assert [t.parameters for t in res.trials] == [{"scale": s} for s in SCALES]  # whole grid
    assert res.best.parameters == {"scale": best_scale}
    assert {t.parameters["scale"]: t.objective for t in res.trials} == {
        s: plain[s].metrics["mean"] for s in SCALES
    }

    # `load` reads only n (not swept): exactly one trial executed it, the others hit the
    # cache; `transform` reads scale: it executed in every trial.
    records = [_record(root, t.run_id) for t in res.trials]
    assert sorted(r["steps"]["load"]["status"] for r in records) == [
        "cached",
        "cached",
        "succeeded",
    ]
    assert [r["steps"]["transform"]["status"] for r in records] == ["succeeded"] * 3
    assert [r["parameters"]["n"] for r in records] == [6, 6, 6]


def test_cli_json_contract_and_cached_trials(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sweep",
        str(linear),
        "--param",
        "scale=choice:1,2",
        "--objective",
        "total",
        "--algorithm",
        "grid",
        "--run-root",
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) == {"sweep_id", "objective", "trials", "best"}
    assert first["objective"] == {"metric": "total", "direction": "minimize"}
    assert [t["parameters"] for t in first["trials"]] == [{"scale": 1.0}, {"scale": 2.0}]
    assert all(isinstance(t["parameters"]["scale"], float) for t in first["trials"])
    assert [t["status"] for t in first["trials"]] == ["succeeded", "succeeded"]
    assert [t["objective"] for t in first["trials"]] == [55.0, 110.0]  # n=10: 1+..+10 = 55
    assert first["best"] == {"parameters": {"scale": 1.0}, "objective": 55.0}
    folder = tmp_path / "sweeps" / first["sweep_id"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.json",
        "plot.png",
        "sweep.json",
        "trials.csv",
        "trials.json",
    ]
    # the same sweep again: every step of every trial comes from the cache
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["sweep_id"] != first["sweep_id"]
    assert [t["status"] for t in again["trials"]] == ["cached", "cached"]
    assert again["best"] == first["best"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            ["--param", "nope=choice:1,2", "--objective", "mean"],
            "valid parameters: n, scale, label",
        ),
        (["--param", "scale=choice:1,x", "--objective", "mean"], "'x' is not float"),
        (["--param", "n=uniform:1:5", "--objective", "mean"], "'n' is an int"),
        (["--param", "scale=choice:1,2", "--objective", "accuracy"], "its metrics: mean, total"),
        (
            ["--param", "scale=uniform:1:2", "--objective", "mean", "--algorithm", "grid"],
            "--grid-points",
        ),
        (
            ["--param", "scale=choice:1,2", "--objective", "mean", "--algorithm", "anneal"],
            "valid algorithms: grid, random, bayesian, tpe",
        ),
        (["--objective", "mean"], "nothing to sweep"),
    ],
)
def test_cli_bad_input_exits_2(
    linear: Path, tmp_path: Path, extra: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sweep", str(linear), "--run-root", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "sweeps").exists()


def test_cli_katib_dry_run(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "sweep",
            str(linear),
            "--param",
            "scale=uniform:0.1:3",
            "--objective",
            "mean",
            "--maximize",
            "--algorithm",
            "random",
            "--trials",
            "9",
            "--parallel",
            "3",
            "--engine",
            "katib",
            "--dry-run",
            "-o",
            str(out),
            "--trial-image",
            "img:1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    path = out / "linear-demo-experiment.yaml"
    assert str(path) in capsys.readouterr().out
    cm, exp = yaml.safe_load_all(path.read_text())
    assert exp["spec"]["maxTrialCount"] == 9 and exp["spec"]["parallelTrialCount"] == 3
    assert exp["spec"]["parameters"] == [
        {"name": "scale", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "3"}}
    ]
    assert yaml.safe_load(cm["data"]["pipeline.yaml"])["pipelineInfo"]["name"] == "linear-demo"
