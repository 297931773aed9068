"""``deploy`` (API and CLI) end to end against the KFP contract server (no live cluster)."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import kfp_kit
import pytest
import yaml
from corpus_kit import assert_step_settings
from kfp_server import KfpServer
from kfp_small_pipeline import write_small_pipeline

from kale_like.api.deployment import (
    KfpTarget,
    deploy,
    remote_run_show,
    remote_runs_list,
    submit_and_wait,
)
from kale_like.cli import main
from kale_like.errors import UsageError
from kale_like.model import Parameter, Pipeline, Step, StepSettings

TOKEN = "tok-deploy-7f3a9c-SECRET"
FIXED = datetime(2026, 1, 2, 3, 4, 5)


# Shared fixtures (tests/kfp_kit.py): a clean KFP environment, the server, the small pipeline.
clean_kfp_env = kfp_kit.clean_kfp_env
server = kfp_kit.server
package = kfp_kit.package


def cli(*args: str) -> int:
    return main(["deploy", *args])


# ------------------------------------------------------------------------------ API


def test_deploy_uploads_runs_and_watches(server: KfpServer, package: str) -> None:
    res = deploy(
        package,
        kfp=KfpTarget(host=server.url, experiment="churn"),
        parameters={"alpha": 0.3},
        watch=True,
        poll=0,
    )
    assert res.new_pipeline and res.status == "succeeded"
    assert set(res.steps) == {"prepare", "train", "publish"}
    run = server.runs[res.run_id]
    assert run.body["runtime_config"]["parameters"] == {"alpha": 0.3}
    exp = server.experiments[run.body["experiment_id"]]
    assert exp["display_name"] == "churn"
    assert res.run_url == f"{server.url}/#/runs/details/{res.run_id}"
    assert server.versions[res.version_id].raw == Path(package).read_text()


def test_second_deploy_adds_a_named_version(server: KfpServer, package: str) -> None:
    first = deploy(package, kfp=KfpTarget(host=server.url), upload_only=True)
    second = deploy(package, kfp=KfpTarget(host=server.url), upload_only=True)
    assert first.pipeline_id == second.pipeline_id and first.version_id != second.version_id
    digest = hashlib.sha256(Path(package).read_bytes()).hexdigest()[:12]
    assert re.fullmatch(rf"small-demo-{digest}-\d{{8}}-\d{{6}}", second.version_name or "")
    assert len(server.versions) == 2 and not server.runs
    third = deploy(package, kfp=KfpTarget(host=server.url), upload_only=True, version="release-1")
    assert third.version_name == "release-1" and len(server.versions) == 3


def test_bad_parameters_are_refused_before_any_request(server: KfpServer, package: str) -> None:
    with pytest.raises(UsageError) as err:
        deploy(package, kfp=KfpTarget(host=server.url), parameters={"alhpa": 1.0})
    assert err.value.kind == "unknown-parameter" and "alpha" in err.value.message
    with pytest.raises(UsageError) as err:
        deploy(package, kfp=KfpTarget(host=server.url), parameters={"n": "many"})
    assert err.value.kind == "bad-parameter-value"
    assert not server.requests


def test_notebook_metadata_supplies_host_namespace_experiment(server: KfpServer) -> None:
    server.multi_user = True
    pipe = _settings_pipeline(
        metadata={
            "kubeflow_notebook": {
                "kfp_host": server.url,
                "namespace": "team-a",
                "experiment_name": "from-nb",
            }
        }
    )
    res = deploy(pipe)
    exp = server.experiments[res.experiment_id or ""]
    assert (exp["display_name"], exp["namespace"]) == ("from-nb", "team-a")
    # A flag wins over the metadata.
    res2 = deploy(pipe, kfp=KfpTarget(experiment="from-flag"), upload_only=False)
    assert server.experiments[res2.experiment_id or ""]["display_name"] == "from-flag"


def test_submit_and_wait_runs_the_spec_without_upload(server: KfpServer, package: str) -> None:
    seen: list[Any] = []

    def reader(remote: Any, snap: Any) -> dict[str, Any]:
        seen.append(snap)
        return {"accuracy": 0.9}

    res = submit_and_wait(
        package, {"n": 5}, host=server.url, experiment="sweep", metrics_reader=reader, poll=0
    )
    assert res.status == "succeeded" and res.metrics == {"accuracy": 0.9}
    assert not server.pipelines and len(server.runs) == 1
    assert server.runs[res.run_id].body["runtime_config"]["parameters"] == {"n": 5}
    assert seen[0].run_id == res.run_id and seen[0].done
    server.fail_steps = {"publish"}
    failed = submit_and_wait(package, {}, host=server.url, poll=0)
    assert failed.status == "failed" and failed.steps["publish"].status == "failed"


def test_remote_runs_list_and_show(server: KfpServer, package: str) -> None:
    res = deploy(package, kfp=KfpTarget(host=server.url), watch=True, poll=0)
    listed = remote_runs_list(host=server.url)
    assert [r["run_id"] for r in listed] == [res.run_id]
    shown = remote_run_show(res.run_id, host=server.url)
    assert shown["status"] == "succeeded"
    assert {n: s["status"] for n, s in shown["steps"].items()} == {
        "prepare": "succeeded",
        "train": "succeeded",
        "publish": "succeeded",
    }


# ------------------------------------------------------------------------------ CLI


def test_cli_watch_success_prints_url_and_progress(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(
        package,
        "--host",
        server.url,
        "--experiment",
        "churn",
        "-p",
        "alpha",
        "0.3",
        "-p",
        "label",
        "42",
        "--watch",
        "--poll",
        "0",
    )
    out, err = capsys.readouterr()
    assert code == 0
    (run_id,) = server.runs
    assert out.strip() == f"{server.url}/#/runs/details/{run_id}"
    assert server.runs[run_id].body["runtime_config"]["parameters"] == {"alpha": 0.3, "label": "42"}
    for step in ("prepare", "train", "publish"):
        assert f"{step}: running" in err and f"{step}: succeeded" in err
    assert "run: succeeded" in err
    assert f"run: submitted — {server.url}/#/runs/details/{run_id}" in err


def test_cli_watch_failure_exits_1(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.fail_steps = {"train"}
    code = cli(package, "--host", server.url, "--watch", "--poll", "0")
    err = capsys.readouterr().err
    assert code == 1 and "train: failed" in err and "at step 'train'" in err


def test_cli_upload_only_json(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(package, "--host", server.url, "--upload-only", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["new_pipeline"] is True and data["run_id"] is None
    assert data["pipeline_id"] in server.pipelines and not server.runs
    assert cli(package, "--host", server.url, "--upload-only", "--version", "v2", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["new_pipeline"] is False and data["version_name"] == "v2"
    assert cli(package, "--host", server.url, "--upload-only", "--version", "v2") == 2


def test_cli_bad_parameter_exit_2(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(package, "--host", server.url, "-p", "nope", "1") == 2
    assert cli(package, "--host", server.url, "-p", "n", "lots") == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err and not server.requests


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "fault, expect",
    [
        ("unreachable", "cannot reach"),
        ("tls", "TLS"),
        ("401", "401"),
        ("403", "403"),
        ("404", "/pipeline"),
    ],
)
def test_cli_environment_errors_exit_3(
    server: KfpServer, package: str, fault: str, expect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host = server.url
    if fault == "unreachable":
        host = f"http://127.0.0.1:{_closed_port()}"
    elif fault == "tls":
        host = f"https://127.0.0.1:{server.port}"
    elif fault == "401":
        server.required_token = TOKEN
    elif fault == "403":
        server.force_status = 403
    elif fault == "404":
        server.prefix = "/pipeline"
    code = cli(package, "--host", host)
    err = capsys.readouterr().err
    assert code == 3 and expect in err and "Traceback" not in err
    if fault == "401":
        assert "--token-file" in err


def test_cli_transient_500_then_success(server: KfpServer, package: str) -> None:
    server.transient = 1
    assert cli(package, "--host", server.url, "--upload-only") == 0
    assert len(server.pipelines) == 1


@pytest.mark.parametrize("source", ["flag", "env", "env2", "sa-path", "config"])
def test_auth_header_from_each_source(
    server: KfpServer,
    package: str,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.required_token = TOKEN
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    args = [package, "--host", server.url, "--watch", "--poll", "0", "--json"]
    if source == "flag":
        args += ["--token-file", str(tok)]
    elif source == "env":
        monkeypatch.setenv("KFP_TOKEN", TOKEN)
    elif source == "env2":
        monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
    elif source == "sa-path":
        monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tok))
    else:
        cfg = tmp_path / "home" / ".config" / "kale-like" / "config.yaml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(f"kfp:\n  token_file: {tok}\n")
    assert cli(*args) == 0
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.requests)
    out, err = capsys.readouterr()
    assert TOKEN not in out and TOKEN not in err


def test_credentials_never_in_output_logs_or_files(
    server: KfpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    server.required_token = TOKEN
    deploy(_settings_pipeline(), kfp=KfpTarget(host=server.url), watch=True, poll=0)
    server.required_token = "another-token"  # now a 401: the error text must not leak either
    assert main(["deploy", str(_yaml_of(tmp_path)), "--host", server.url]) == 3
    out, err = capsys.readouterr()
    for text in (out, err, caplog.text):
        assert TOKEN not in text
    for v in server.versions.values():
        assert TOKEN not in v.raw
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f


def _yaml_of(tmp_path: Path) -> Path:
    return write_small_pipeline(tmp_path / "again.yaml")


def test_cli_runs_remote(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(package, "--host", server.url, "--watch", "--poll", "0") == 0
    capsys.readouterr()
    (run_id,) = server.runs
    assert main(["runs", "list", "--remote", "--host", server.url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [run_id] and rows[0]["status"] == "succeeded"
    assert main(["runs", "show", run_id, "--remote", "--host", server.url]) == 0
    out = capsys.readouterr().out
    assert f"run {run_id}: succeeded" in out
    assert re.search(r"train\s+succeeded", out)
    assert main(["runs", "show", "no-such-run", "--remote", "--host", server.url]) == 2
    assert "not found" in capsys.readouterr().err


# -------------------------------------------------------- step settings reach the server


ALL_SETTINGS = StepSettings(
    image="registry.example.com/team/trainer:1.2.3",
    requests=(("cpu", "250m"), ("memory", "1Gi")),
    limits=(("cpu", "1"), ("memory", "2Gi"), ("nvidia.com/gpu", "1")),
    node_selector=(("disktype", "ssd"),),
    tolerations=(("gpu", "true", "NoSchedule"),),
    volumes=(("data-pvc", "/mnt/data"),),
    secrets=(("db-creds", "password", "DB_PASSWORD"),),
    labels=(("team", "ml"),),
    annotations=(("owner", "alice"),),
    retries=3,
    timeout=600,
    cache=False,
    env=(("MODE", "fast"),),
)


def _settings_pipeline(metadata: dict[str, Any] | None = None) -> Pipeline:
    return Pipeline(
        name="settings-demo",
        parameters=(Parameter("alpha", 0.5, "float"), Parameter("n", 3, "int")),
        steps=(
            Step("prep", (0,), ("x = n",), outputs=("x",), parameters=("n",)),
            Step(
                "train",
                (1,),
                ("y = x * alpha",),
                after=("prep",),
                inputs=(("x", "prep"),),
                parameters=("alpha",),
                settings=ALL_SETTINGS,
            ),
        ),
        metadata=metadata or {},
    )


def _received(server: KfpServer) -> tuple[dict[str, Any], dict[str, Any]]:
    (version,) = server.versions.values()
    docs = [d for d in yaml.safe_load_all(version.raw) if d]
    return docs[0], (docs[1] if len(docs) > 1 else {})


def test_every_step_setting_arrives_in_the_uploaded_spec(server: KfpServer) -> None:
    res = deploy(
        _settings_pipeline(),
        kfp=KfpTarget(host=server.url),
        parameters={"alpha": 0.1},
        watch=True,
        poll=0,
    )
    assert res.status == "succeeded" and set(res.steps) == {"prep", "train"}
    spec, platform = _received(server)
    tasks = spec["root"]["dag"]["tasks"]
    train = tasks["train"]
    assert train["retryPolicy"]["maxRetryCount"] == 3
    assert train["cachingOptions"].get("enableCache", False) is False
    assert tasks["prep"]["cachingOptions"]["enableCache"] is True
    ex_name = spec["components"][train["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][ex_name]["container"]
    assert container["image"] == "registry.example.com/team/trainer:1.2.3"
    res_ = container["resources"]
    assert (res_["resourceCpuRequest"], res_["resourceMemoryRequest"]) == ("250m", "1Gi")
    assert (res_["resourceCpuLimit"], res_["resourceMemoryLimit"]) == ("1", "2Gi")
    assert res_["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert res_["accelerator"]["resourceCount"] == "1"
    assert {"name": "MODE", "value": "fast"} in container["env"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][ex_name]
    assert k8s["nodeSelector"]["labels"] == {"disktype": "ssd"}
    assert k8s["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert k8s["pvcMount"][0]["mountPath"] == "/mnt/data"
    assert k8s["pvcMount"][0]["pvcNameParameter"]["runtimeValue"]["constant"] == "data-pvc"
    (secret,) = k8s["secretAsEnv"]
    assert secret["secretNameParameter"]["runtimeValue"]["constant"] == "db-creds"
    assert secret["keyToEnv"] == [{"secretKey": "password", "envVar": "DB_PASSWORD"}]
    assert k8s["podMetadata"] == {"labels": {"team": "ml"}, "annotations": {"owner": "alice"}}
    assert int(k8s["activeDeadlineSeconds"]) == 600
    # The plain step carries no platform settings.
    assert set(platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]) == {ex_name}


# ------------------------------------------------- notebooks: corpus and tags end to end


def _executor(
    spec: dict[str, Any], platform: dict[str, Any], task: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(task, container, kubernetes settings) of a root task of the received spec."""
    t = spec["root"]["dag"]["tasks"][task]
    ex = spec["components"][t["componentRef"]["name"]]["executorLabel"]
    k8s = (
        platform.get("platforms", {})
        .get("kubernetes", {})
        .get("deploymentSpec", {})
        .get("executors", {})
        .get(ex, {})
    )
    return t, spec["deploymentSpec"]["executors"][ex]["container"], k8s


def test_corpus_step_settings_reach_the_server(
    server: KfpServer,
    corpus_dir: Path,
    manifest: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = next(e for e in manifest if e["file"] == "22_step_settings.ipynb")
    nb = corpus_dir / entry["file"]
    before = nb.read_bytes()
    assert cli(str(nb), "--host", server.url, "--watch", "--poll", "0") == 0
    assert nb.read_bytes() == before  # the notebook is never modified
    spec, platform = _received(server)
    (run,) = server.runs.values()
    assert run.steps == entry["steps"]  # every step of the notebook ran, in order
    for step, expected in entry["step_settings"].items():
        task, container, _ = _executor(spec, platform, step)
        assert_step_settings(expected, container, task)
    assert "train: succeeded" in capsys.readouterr().err


def _tagged_notebook(path: Path) -> Path:
    # Plain nbformat-4 JSON: importing nbformat (jsonschema's format checkers) costs seconds.
    def cell(src: str, *tags: str) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{len(cells)}",
            "metadata": {"tags": list(tags)},
            "outputs": [],
            "source": src,
        }

    cells: list[dict[str, Any]] = []
    for src, *tags in [
        ("alpha = 0.5\nn = 3", "pipeline-parameters"),
        ("data = list(range(n))", "step:prepare"),
        (
            "total = sum(data) * alpha",
            "step:train",
            "prev:prepare",
            "request:cpu:250m",
            "request:memory:512Mi",
            "limit:cpu:1",
            "limit:nvidia.com/gpu:2",
            "toleration:gpu:true:NoSchedule",
            "volume:data-pvc:/mnt/data",
            "secret:db-creds:password:DB_PASSWORD",
            "annotation:owner:alice",
            "retry:2",
            "timeout:900",
            "cache:disabled",
            "env:MODE=fast",
            "node-selector:accel:a100",
        ),
        ("print(total)", "pipeline-metrics"),
    ]:
        cells.append(cell(src, *tags))
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "kubeflow_notebook": {
                "pipeline_name": "settings-nb",
                "experiment_name": "nb-exp",
                "steps_defaults": [
                    "label:team:ml",
                    "limit:memory:1Gi",
                    "node-selector:pool:general",
                ],
            },
        },
    }
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def test_tags_and_steps_defaults_reach_the_server(server: KfpServer, tmp_path: Path) -> None:
    nb = _tagged_notebook(tmp_path / "tagged.ipynb")
    assert cli(str(nb), "--host", server.url, "-p", "alpha", "2", "--watch", "--poll", "0") == 0
    (pipe,) = server.pipelines.values()
    assert pipe["display_name"] == "settings-nb"
    (run,) = server.runs.values()
    assert server.experiments[run.body["experiment_id"]]["display_name"] == "nb-exp"
    assert run.body["runtime_config"]["parameters"] == {"alpha": 2}
    spec, platform = _received(server)
    # steps_defaults apply to every step.
    for step in ("prepare", "train"):
        _, container, k8s = _executor(spec, platform, step)
        assert container["resources"]["resourceMemoryLimit"] == "1Gi"
        assert k8s["podMetadata"]["labels"] == {"team": "ml"}
        assert k8s["nodeSelector"]["labels"]["pool"] == "general"
    task, container, k8s = _executor(spec, platform, "train")
    res = container["resources"]
    assert (res["resourceCpuRequest"], res["resourceMemoryRequest"]) == ("250m", "512Mi")
    assert res["resourceCpuLimit"] == "1"
    assert (res["accelerator"]["resourceType"], res["accelerator"]["resourceCount"]) == (
        "nvidia.com/gpu",
        "2",
    )
    assert {"name": "MODE", "value": "fast"} in container["env"]
    assert k8s["nodeSelector"]["labels"] == {"pool": "general", "accel": "a100"}
    assert k8s["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert [
        (m["pvcNameParameter"]["runtimeValue"]["constant"], m["mountPath"]) for m in k8s["pvcMount"]
    ] == [("data-pvc", "/mnt/data")]
    assert k8s["secretAsEnv"][0]["keyToEnv"] == [{"secretKey": "password", "envVar": "DB_PASSWORD"}]
    assert k8s["podMetadata"]["annotations"] == {"owner": "alice"}
    assert int(k8s["activeDeadlineSeconds"]) == 900
    assert task["retryPolicy"]["maxRetryCount"] == 2
    assert task.get("cachingOptions", {}).get("enableCache", False) is False
    # The secret travels by reference: its name and key only.
    assert "db-creds" in server.uploaded()[0].raw and "DB_PASSWORD" in server.uploaded()[0].raw


def test_kfp_engine_runs_a_pipeline_on_the_server(server: KfpServer) -> None:
    from kale_like.engines import RunRequest
    from kale_like.engines.kubeflow import KfpEngine

    events: list[tuple[str | None, str]] = []
    request = RunRequest(
        pipeline=_settings_pipeline(),
        parameters={"alpha": 0.5, "n": 4},
        progress=lambda ev: events.append((ev.step, ev.status)),
        options={"host": server.url, "poll": 0},
    )
    result = KfpEngine().run(request)
    assert result.status == "succeeded" and result.engine == "kfp"
    assert result.run_id in server.runs
    assert server.runs[result.run_id].body["runtime_config"]["parameters"] == {"alpha": 0.5, "n": 4}
    assert {n: s.status for n, s in result.steps.items()} == {
        "prep": "succeeded",
        "train": "succeeded",
    }
    assert ("train", "succeeded") in events and events[-1] == (None, "succeeded")
    server.fail_steps = {"prep"}
    assert KfpEngine().run(request).status == "failed"


def test_kfp_engine_is_registered() -> None:
    from kale_like import engines
    from kale_like.engines.kubeflow import KfpEngine

    assert isinstance(engines.get("kfp"), KfpEngine)


def test_cli_images_file_sets_step_images(server: KfpServer, tmp_path: Path) -> None:
    nb = _tagged_notebook(tmp_path / "tagged.ipynb")
    images = tmp_path / "images.json"
    images.write_text(
        json.dumps(
            {"pipeline": "settings-nb", "images": {"prepare": "127.0.0.1:5000/team/prepare:abc123"}}
        )
    )
    assert cli(str(nb), "--host", server.url, "--images", str(images), "--upload-only") == 0
    spec, platform = _received(server)
    _, container, _ = _executor(spec, platform, "prepare")
    assert container["image"] == "127.0.0.1:5000/team/prepare:abc123"
    images.write_text(json.dumps({"nosuchstep": "x:1"}))
    assert cli(str(nb), "--host", server.url, "--images", str(images)) == 2


def _fake_mlmd(**kw: Any) -> Any:
    from mlmd_server import FakeMlmd

    return FakeMlmd(**kw).start()


def test_runs_show_remote_reads_metrics_from_mlmd(
    server: KfpServer, package: str, capsys: pytest.CaptureFixture[str]
) -> None:
    res = deploy(package, kfp=KfpTarget(host=server.url), watch=True, poll=0)
    mlmd = _fake_mlmd(
        runs={
            res.run_id: [
                ("system.Metrics", {"display_name": "mlpipeline_metrics", "accuracy": 0.75}),
                ("system.Artifact", {"display_name": "model", "size": 3}),
            ]
        }
    )
    try:
        assert (
            main(
                [
                    "runs",
                    "show",
                    res.run_id,
                    "--remote",
                    "--host",
                    server.url,
                    "--mlmd",
                    mlmd.url,
                    "--json",
                ]
            )
            == 0
        )
    finally:
        mlmd.stop()
    shown = json.loads(capsys.readouterr().out)
    assert shown["metrics"] == {"accuracy": 0.75} and shown["status"] == "succeeded"


def test_kfp_engine_reads_metrics_from_mlmd(server: KfpServer) -> None:
    from kale_like.engines import RunRequest
    from kale_like.engines.kubeflow import KfpEngine

    mlmd = _fake_mlmd(
        any_run=[("system.Metrics", {"display_name": "mlpipeline_metrics", "total": 6.0})]
    )
    try:
        request = RunRequest(
            pipeline=_settings_pipeline(),
            parameters={"alpha": 0.5, "n": 4},
            options={"host": server.url, "poll": 0, "mlmd": mlmd.url},
        )
        result = KfpEngine().run(request)
    finally:
        mlmd.stop()
    assert result.status == "succeeded" and result.metrics == {"total": 6.0}


def test_generated_version_names_never_collide(
    server: KfpServer, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_mod = importlib.import_module("kale_like.kubeflow.deploy")  # uploads happen there

    frozen = deploy_mod.version_name  # every upload in "the same second"
    monkeypatch.setattr(
        deploy_mod, "version_name", lambda name, digest, when=None: frozen(name, digest, FIXED)
    )
    results = [deploy(package, kfp=KfpTarget(host=server.url), upload_only=True) for _ in range(3)]
    names = [r.version_name for r in results[1:]]
    assert names[1] == f"{names[0]}-2" and len(server.versions) == 3


def test_upper_case_and_none_parameters_reach_kfp_under_their_input_names(
    server: KfpServer, corpus_dir: Path
) -> None:
    # 19 has LEARNING_RATE / MAX_DEPTH and a None default: the run must use KFP's input
    # names (the server rejects unknown ones) and JSON for the None-default parameter.
    nb = corpus_dir / "19_parameters_all_types.ipynb"
    result = deploy(
        str(nb),
        kfp=KfpTarget(host=server.url),
        parameters={"LEARNING_RATE": 0.5, "threshold": 7, "n_items": 2},
    )
    assert result.run_id
    body = server.runs[result.run_id].body
    given = body["runtime_config"]["parameters"]
    assert given["learning_rate"] == 0.5 and given["n_items"] == 2
    assert json.loads(given["threshold"]) == 7


def test_compiled_yaml_takes_the_notebooks_parameter_names(
    server: KfpServer, corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The YAML's inputs are KFP's names (learning_rate); -p LEARNING_RATE is the notebook's.
    from kale_like.api.compilation import compile as compile_notebook

    yaml_path = compile_notebook(corpus_dir / "19_parameters_all_types.ipynb", tmp_path).yaml_path
    assert cli(str(yaml_path), "--host", server.url, "-p", "LEARNING_RATE", "0.5") == 0
    (run,) = server.runs.values()
    assert run.body["runtime_config"]["parameters"]["learning_rate"] == 0.5
    assert cli(str(yaml_path), "--host", server.url, "-p", "LEARNING_RATEX", "0.5") == 2
    assert "unknown parameter 'LEARNING_RATEX'" in capsys.readouterr().err


def test_config_maps_and_security_context_reach_the_server(
    server: KfpServer, tmp_path: Path
) -> None:
    """``configmap:`` tags, ``kubeflow_notebook.security_context`` and a step's
    ``security-context:`` override arrive in the uploaded platform spec."""
    nb = _tagged_notebook(tmp_path / "tagged.ipynb")
    doc = json.loads(nb.read_text(encoding="utf-8"))
    train = next(c for c in doc["cells"] if "step:train" in c["metadata"]["tags"])
    train["metadata"]["tags"] += [
        "configmap:app-config:log.level:LOG_LEVEL",
        "configmap:app-config:region:REGION",
        "configmap:feature-flags:fast_path:FAST_PATH",
        "security-context:run_as_user=2000",
    ]
    meta = doc["metadata"]["kubeflow_notebook"]
    meta["security_context"] = {"run_as_user": 1000, "run_as_group": 1000, "run_as_non_root": True}
    meta["steps_defaults"].append("configmap:app-config:log.level:LOG_LEVEL")
    nb.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    before = nb.read_bytes()
    assert cli(str(nb), "--host", server.url, "--watch", "--poll", "0") == 0
    assert nb.read_bytes() == before
    spec, platform = _received(server)

    def config_maps(k8s: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
        # By reference: the config map's name and key, never a value.
        return {
            ref["configMapNameParameter"]["runtimeValue"]["constant"]: {
                (m["configMapKey"], m["envVar"]) for m in ref["keyToEnv"]
            }
            for ref in k8s["configMapAsEnv"]
        }

    def security(k8s: dict[str, Any]) -> dict[str, Any]:
        sc = k8s["securityContext"]  # int64 fields travel as JSON strings
        return {k: (v if isinstance(v, bool) else int(v)) for k, v in sc.items()}

    _, _, prepare = _executor(spec, platform, "prepare")
    assert config_maps(prepare) == {"app-config": {("log.level", "LOG_LEVEL")}}
    assert security(prepare) == {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True}
    _, _, train_k8s = _executor(spec, platform, "train")
    assert config_maps(train_k8s) == {
        "app-config": {("log.level", "LOG_LEVEL"), ("region", "REGION")},
        "feature-flags": {("fast_path", "FAST_PATH")},
    }
    assert security(train_k8s) == {"runAsUser": 2000, "runAsGroup": 1000, "runAsNonRoot": True}
    # The step's other settings are still there alongside.
    assert train_k8s["secretAsEnv"][0]["keyToEnv"] == [
        {"secretKey": "password", "envVar": "DB_PASSWORD"}
    ]


def test_server_refuses_a_malformed_kubernetes_config(package: str) -> None:
    """The contract server checks the platform spec as KFP's driver reads it."""
    from kfp_server import Reject, validate_package

    raw = Path(package).read_text(encoding="utf-8")
    executor = next(iter(yaml.safe_load(raw)["deploymentSpec"]["executors"]))
    bad = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        executor: {"securityContext": {"runAsUser": "root"}}}}}}}  # fmt: skip
    with pytest.raises(Reject):
        validate_package(raw + "\n---\n" + yaml.safe_dump(bad))
    good = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        executor: {"securityContext": {"runAsUser": "1000"}}}}}}}  # fmt: skip
    assert validate_package(raw + "\n---\n" + yaml.safe_dump(good))[1] == good


def test_cli_warns_about_steps_without_built_images(
    server: KfpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --images, a step with no image: tag starts from a plain python image that has
    # no kale_like: the user is told before the upload, and how to fix it.
    from kale_like.api.analysis import load_pipeline

    nb = _tagged_notebook(tmp_path / "tagged.ipynb")
    plain = [s.name for s in load_pipeline(nb).steps if s.settings.image is None]
    assert plain, "the notebook must have a step without an image: tag"
    assert cli(str(nb), "--host", server.url, "--upload-only") == 0
    err = capsys.readouterr().err
    assert "warning" in err and "--images" in err
    assert all(name in err for name in plain)
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"images": {name: f"r/{name}:1" for name in plain}}))
    assert cli(str(nb), "--host", server.url, "--images", str(images), "--upload-only") == 0
    assert "warning" not in capsys.readouterr().err
