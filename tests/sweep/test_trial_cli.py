"""``kale-like trial`` (the Katib trial entry) against the project's KFP contract server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kfp_kit
import pytest
from kfp_server import KfpServer
from mlmd_server import FakeMlmd
from sweep_kit import linear_pipeline

from kale_like.api.compilation import compile as compile_pipeline
from kale_like.cli import main

READER = "trial_readers:linear_reader"
# 01_linear at n=4, scale=0.5 (a recorded override run), printing both of its metrics
N4_BOTH_METRICS = ("-p", "n", "4", "-p", "scale", "0.5", "--metrics", "mean,total")


# Shared fixtures (tests/kfp_kit.py): a clean KFP environment and the server.
clean_kfp_env = kfp_kit.clean_kfp_env
server = kfp_kit.server


@pytest.fixture(scope="module")
def pipeline_yaml(tmp_path_factory: pytest.TempPathFactory) -> str:
    res = compile_pipeline(linear_pipeline(), tmp_path_factory.mktemp("compiled"))
    return str(res.yaml_path)


def trial(server: KfpServer, pipeline_yaml: str, *args: str) -> int:
    """``kale-like trial PIPELINE --host SERVER --poll 0 ARGS...``."""
    return main(["trial", pipeline_yaml, "--host", server.url, "--poll", "0", *args])


def test_trial_submits_typed_parameters_and_prints_metrics(
    server: KfpServer,
    pipeline_yaml: str,
    manifest: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Katib hands every value over as text; the pipeline's inputs say how to type them.
    code = trial(server, pipeline_yaml, *N4_BOTH_METRICS, "--metrics-reader", READER)
    out = capsys.readouterr().out
    assert code == 0
    ((run_id, run),) = server.runs.items()
    assert run.body["runtime_config"]["parameters"] == {"n": 4, "scale": 0.5}
    assert run.body.get("pipeline_spec", {}).get("pipelineInfo", {}).get("name") == "linear-demo"
    # the values printed are 01_linear's ground truth for n=4, scale=0.5
    entry = next(e for e in manifest if e["file"] == "01_linear.ipynb")
    truth = next(r for r in entry["override_runs"] if r["parameters"]["n"] == 4)["metrics"]
    lines = out.strip().splitlines()
    assert lines == [f"mean={float(truth['mean'])!r}", f"total={float(truth['total'])!r}"]


def test_trial_exit_codes(
    server: KfpServer, pipeline_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trial(server, pipeline_yaml, "-p", "alpha", "1") == 2
    assert "unknown parameter 'alpha'" in capsys.readouterr().err
    assert trial(server, pipeline_yaml, "-p", "n", "4.5") == 2
    assert "parameter 'n' expects int" in capsys.readouterr().err
    assert not server.runs  # nothing was submitted
    server.fail_steps = {"transform"}
    code = trial(
        server, pipeline_yaml, "-p", "n", "3", "--metrics", "mean", "--metrics-reader", READER
    )
    assert code == 1
    assert "ended failed" in capsys.readouterr().err
    server.fail_steps = set()
    # the run succeeds but ML Metadata holds no metric for it -> a failed trial
    mlmd = FakeMlmd().start()
    try:
        code = trial(server, pipeline_yaml, "--metrics", "mean", "--mlmd-host", mlmd.url)
    finally:
        mlmd.stop()
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "no value for mean" in captured.err


def test_trial_reads_metrics_from_ml_metadata(
    server: KfpServer, pipeline_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # What KFP's launcher records for the two metric-producing steps of 01_linear (n=4,
    # scale=0.5), plus an ordinary artifact whose numeric properties are not metrics.
    mlmd = FakeMlmd(
        any_run=[
            ("system.Metrics", {"display_name": "mlpipeline_metrics", "total": 5.0}),
            ("system.Artifact", {"display_name": "scaled", "size": 4}),
            ("system.Metrics", {"display_name": "mlpipeline_metrics", "mean": 1.25}),
        ]
    ).start()
    try:
        code = trial(server, pipeline_yaml, *N4_BOTH_METRICS, "--mlmd-host", mlmd.url)
    finally:
        mlmd.stop()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["mean=1.25", "total=5.0"]
    ((run_id, _),) = server.runs.items()
    asked = [req.context_name for m, req in mlmd.calls if m == "GetContextByTypeAndName"]
    assert asked == [run_id]  # the metrics of this very run
    (unreachable,) = [
        trial(server, pipeline_yaml, "--metrics", "mean", "--mlmd-host", "http://127.0.0.1:9")
    ]
    assert unreachable == 3
    assert "cannot reach ML Metadata" in capsys.readouterr().err


def test_katib_trial_command_runs_against_kfp_with_a_renamed_parameter(
    server: KfpServer,
    tmp_path: Path,
    manifest: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A notebook parameter `N` becomes the pipeline input `n` (KFP inputs are lower case):
    # the trial Job's own command, as Katib fills it in, must still submit a valid run.
    import dataclasses

    import yaml

    from kale_like.api.sweeps import KatibTarget, sweep

    base = linear_pipeline()
    steps = list(base.steps)
    steps[0] = dataclasses.replace(
        steps[0], sources=("data = list(range(1, N + 1))",), parameters=("N",)
    )
    params = (dataclasses.replace(base.parameters[0], name="N"), *base.parameters[1:])
    pipeline = dataclasses.replace(base, steps=tuple(steps), parameters=params)
    res = sweep(
        pipeline,
        params=["N=choice:4", "scale=choice:0.5"],
        objective="mean",
        maximize=True,
        algorithm="grid",
        engine="katib",
        dry_run=True,
        output_dir=tmp_path / "out",
        katib=KatibTarget(trial_image="registry.local/kale-like-runtime:0.1"),
    )
    cm, exp = yaml.safe_load_all(Path(res.manifest_path).read_text())
    (pipeline_file := tmp_path / "pipeline.yaml").write_text(cm["data"]["pipeline.yaml"])
    job = exp["spec"]["trialTemplate"]["trialSpec"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    filled = {"${trialParameters.N}": "4", "${trialParameters.scale}": "0.5"}
    command = [filled.get(arg, arg) for arg in container["command"]]
    assert command[:2] == ["kale-like", "trial"]
    args = command[2:]
    args[0] = str(pipeline_file)  # the ConfigMap's mount
    args[args.index("--host") + 1] = server.url
    code = main(["trial", *args, "--poll", "0", "--metrics-reader", READER])
    out = capsys.readouterr().out
    assert code == 0
    ((_, run),) = server.runs.items()
    assert run.body["runtime_config"]["parameters"] == {"n": 4, "scale": 0.5}
    entry = next(e for e in manifest if e["file"] == "01_linear.ipynb")
    truth = next(r for r in entry["override_runs"] if r["parameters"]["n"] == 4)["metrics"]
    # the objective, then the notebook's other metrics (Katib's additionalMetricNames)
    assert out.strip().splitlines() == [
        f"mean={float(truth['mean'])!r}",
        f"total={float(truth['total'])!r}",
    ]
