"""Requests set a verb's option groups (sweep's Budget and KatibTarget, deploy's KfpTarget)
field by field: the wire stays flat, the verb receives the groups."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from kale_like import api
from kale_like.errors import UsageError
from kale_like.kubeflow.config import KfpTarget
from kale_like.server import verbs
from kale_like.server.jobs import Job, JobContext
from kale_like.server.verb_options import check_options, flat_options, pack_options
from kale_like.sweep.options import Budget, KatibTarget


def test_flat_options_name_the_fields_of_the_groups() -> None:
    sweep_takes = flat_options(api.sweep)
    assert {"trials", "parallel", "max_failed", "host", "namespace", "trial_image"} <= set(
        sweep_takes
    )
    assert "budget" not in sweep_takes and "katib" not in sweep_takes
    deploy_takes = flat_options(api.deploy)
    assert {"host", "namespace", "experiment", "token_file"} <= set(deploy_takes)
    assert "kfp" not in deploy_takes


def test_group_fields_are_checked_like_options() -> None:
    sweep = api.sweep
    check_options(sweep, {"trials": 3, "parallel": 2, "host": "http://kfp"}, verb="sweep")
    with pytest.raises(UsageError, match="'trials' of sweep must be") as bad:
        check_options(sweep, {"trials": "many"}, verb="sweep")
    assert bad.value.kind == "bad-options"
    with pytest.raises(UsageError, match="at least 1"):
        check_options(sweep, {"parallel": 0}, verb="sweep")
    for name in ("budget", "kfp_host"):  # the group itself and the old host name
        with pytest.raises(UsageError, match="unknown option") as unknown:
            check_options(sweep, {name: 1}, verb="sweep")
        assert unknown.value.kind == "unknown-option"


def test_pack_options_builds_the_groups() -> None:
    packed = pack_options(
        api.sweep,
        {"trials": 3, "max_failed": 0, "host": "http://kfp", "namespace": "ns", "seed": 1},
    )
    assert packed == {
        "seed": 1,
        "budget": Budget(trials=3, max_failed=0),
        "katib": KatibTarget(host="http://kfp", namespace="ns"),
    }
    assert pack_options(api.deploy, {"experiment": "e", "watch": True}) == {
        "watch": True,
        "kfp": KfpTarget(experiment="e"),
    }
    assert pack_options(api.deploy, {"watch": True}) == {"watch": True}


def test_a_sweep_job_gets_its_budget_and_katib_target(tmp_path: Path) -> None:
    from sweep_kit import linear_pipeline

    job = Job(id="j1", kind="sweep", notebook=None)
    ctx = JobContext(job, threading.Lock())
    out = tmp_path / "out"
    body = verbs.generic_job(
        ctx,
        "sweep",
        linear_pipeline(),
        tmp_path,
        tmp_path / "runs",
        {"host": "http://kfp.example:8888", "experiment": "not-a-sweep-option"},
        params=["n=int:1:3"],
        objective="mean",
        engine="katib",
        dry_run=True,
        output_dir=str(out),
        trials=4,
        parallel=2,
        trial_image="img:1",
    )
    assert body["status"] == "dry-run"
    _, exp = yaml.safe_load_all((out / "linear-demo-experiment.yaml").read_text())
    spec: dict[str, Any] = exp["spec"]
    assert (spec["maxTrialCount"], spec["parallelTrialCount"]) == (4, 2)
    trial = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    assert trial["image"] == "img:1"
    assert "http://kfp.example:8888" in trial["command"]
