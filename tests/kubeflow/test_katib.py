"""The Katib engine: Experiment YAML checked against Katib's and Kubernetes' own models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from katib_models import deserialize_experiment
from sweep_kit import linear_pipeline

from kale_like.api.sweeps import Budget, KatibTarget, sweep
from kale_like.errors import EnvironmentProblem, UsageError
from kale_like.kubeflow import katib


def _dry_run(tmp_path: Path, **kw: Any) -> tuple[dict[str, Any], dict[str, Any], Path]:
    args: dict[str, Any] = dict(
        params=["scale=loguniform:0.01:1", "n=range:2:10:4", "label=choice:a,b"],
        objective="mean",
        maximize=True,
        algorithm="bayesian",
        budget=Budget(trials=10, parallel=2, max_failed=1),
        engine="katib",
        dry_run=True,
        output_dir=tmp_path / "out",
        katib=KatibTarget(trial_image="registry.local/kale-like-runtime:0.1"),
    )
    args.update(kw)
    res = sweep(linear_pipeline(), **args)
    path = Path(res.manifest_path)
    docs = list(yaml.safe_load_all(path.read_text()))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Experiment"]
    return docs[0], docs[1], path


def test_experiment_deserializes_into_katib_models(tmp_path: Path) -> None:
    cm, exp, path = _dry_run(tmp_path)
    assert path == tmp_path / "out" / "linear-demo-experiment.yaml"
    seen = deserialize_experiment(exp)
    assert seen["type"] == "V1beta1Experiment"
    assert seen["roundtrip"] == exp  # every field we wrote is a field Katib knows
    assert seen["objective"] == ["maximize", "mean", ["total"], None]
    assert seen["algorithm"] == "bayesianoptimization"
    assert seen["counts"] == [2, 10, 1]
    assert seen["collector"] == "StdOut"
    assert seen["parameters"] == [
        ["scale", "double", "0.01", "1", None, None, "logUniform"],
        ["n", "int", "2", "10", "4", None, None],
        ["label", "categorical", None, None, None, ["a", "b"], None],
    ]
    assert seen["primary"] == "trial"
    assert seen["trial_parameters"] == [["scale", "scale"], ["n", "n"], ["label", "label"]]
    assert seen["trial_spec_kind"] == "Job"
    # the ConfigMap carries the compiled pipeline the trial submits
    spec = yaml.safe_load(cm["data"]["pipeline.yaml"])
    assert spec["pipelineInfo"]["name"] == "linear-demo"
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"n", "scale", "label"}


def test_trial_job_is_a_valid_kubernetes_job(tmp_path: Path) -> None:
    from kubernetes.client import ApiClient, V1Job

    _, exp, _ = _dry_run(tmp_path)
    job_doc = exp["spec"]["trialTemplate"]["trialSpec"]
    job = ApiClient()._ApiClient__deserialize(job_doc, "V1Job")
    assert isinstance(job, V1Job)
    assert ApiClient().sanitize_for_serialization(job) == job_doc
    (container,) = job.spec.template.spec.containers
    assert container.name == exp["spec"]["trialTemplate"]["primaryContainerName"]
    assert container.image == "registry.local/kale-like-runtime:0.1"
    cmd = container.command
    assert cmd[:3] == ["kale-like", "trial", "/etc/kale-like/pipeline.yaml"]
    assert cmd[cmd.index("--host") + 1] == katib.DEFAULT_KFP_HOST
    pairs = [cmd[i + 1 : i + 3] for i, a in enumerate(cmd) if a == "-p"]
    assert pairs == [
        ["scale", "${trialParameters.scale}"],
        ["n", "${trialParameters.n}"],
        ["label", "${trialParameters.label}"],
    ]
    assert cmd[cmd.index("--metrics") + 1] == "mean,total"
    assert "--mlmd-host" not in cmd  # the trial's in-cluster default
    assert job.spec.template.spec.restart_policy == "Never"
    env = {e.name: e for e in container.env}
    assert env["KF_PIPELINES_NAMESPACE"].value_from.field_ref.field_path == "metadata.namespace"
    mounts = {m.mount_path for m in container.volume_mounts}
    assert "/etc/kale-like" in mounts and katib.TOKEN_DIR in mounts


def test_no_secret_in_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFP_TOKEN", "s3cr3t-token-value")
    _, exp, path = _dry_run(
        tmp_path,
        katib=KatibTarget(
            trial_image="registry.local/kale-like-runtime:0.1", token_secret="kfp-auth:token"
        ),
    )
    text = path.read_text()
    assert "s3cr3t-token-value" not in text
    pod = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    env = pod["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "KFP_TOKEN")
    assert ref == {
        "name": "KFP_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "kfp-auth", "key": "token"}},
    }
    assert "value" not in ref


def test_algorithm_mapping_and_goal(tmp_path: Path) -> None:
    for local, remote in (("grid", "grid"), ("random", "random"), ("tpe", "tpe")):
        params = ["n=int:1:3"] if local == "grid" else ["scale=uniform:0.1:1"]
        _, exp, _ = _dry_run(tmp_path / local, algorithm=local, params=params)
        assert exp["spec"]["algorithm"] == {"algorithmName": remote}
    meta = {
        "kubeflow_notebook": {
            "katib_metadata": {
                "parameters": [
                    {
                        "name": "n",
                        "parameterType": "int",
                        "feasibleSpace": {"min": "1", "max": "9", "step": "2"},
                    }
                ],
                "objective": {"type": "minimize", "objectiveMetricName": "total", "goal": 5},
                "algorithm": {"algorithmName": "grid"},
                "maxTrialCount": 5,
                "parallelTrialCount": 3,
                "maxFailedTrialCount": 2,
            }
        }
    }
    res = sweep(
        linear_pipeline(metadata=meta),
        engine="katib",
        dry_run=True,
        output_dir=tmp_path / "meta",
        katib=KatibTarget(trial_image="img:1"),
    )
    spec = res.manifest[1]["spec"]
    assert spec["objective"] == {
        "type": "minimize",
        "objectiveMetricName": "total",
        "goal": 5.0,
        "additionalMetricNames": ["mean"],
    }
    assert [spec["parallelTrialCount"], spec["maxTrialCount"], spec["maxFailedTrialCount"]] == [
        3,
        5,
        2,
    ]
    assert spec["parameters"][0]["feasibleSpace"] == {"min": "1", "max": "9", "step": "2"}
    assert deserialize_experiment(res.manifest[1])["roundtrip"] == res.manifest[1]


def test_bad_katib_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot enumerate uniform parameter 'scale'"):
        _dry_run(tmp_path, algorithm="grid", params=["scale=uniform:0:1"])
    with pytest.raises(UsageError, match="--dry-run needs -o"):
        _dry_run(tmp_path, output_dir=None)
    with pytest.raises(UsageError, match="SECRET:KEY"):
        _dry_run(tmp_path, katib=KatibTarget(trial_image="img:1", token_secret="nokey"))


class _FakeApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.reason = "Conflict" if status == 409 else "Forbidden"


class _Core:
    def __init__(self, conflict: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.conflict = conflict

    def create_namespaced_config_map(self, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append(("create", namespace, body))
        if self.conflict:
            raise _FakeApiError(409)

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any) -> None:
        self.calls.append(("replace", namespace, name))


class _Custom:
    def __init__(self, status: int | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.status = status

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append((group, version, namespace, plural, body))
        if self.status:
            raise _FakeApiError(self.status)
        return body


def test_create_with_an_injected_client(tmp_path: Path) -> None:
    def create(core: _Core, custom: _Custom) -> Any:
        return sweep(
            linear_pipeline(),
            params=["n=int:1:3"],
            objective="mean",
            engine="katib",
            katib=KatibTarget(trial_image="img:1", namespace="team-a"),
            k8s_client=katib.KubeClients(core=core, custom=custom),
        )

    core, custom = _Core(conflict=True), _Custom()
    res = create(core, custom)
    assert res.status == "created" and res.manifest_path is None
    assert [c[0] for c in core.calls] == ["create", "replace"]
    assert core.calls[0][2]["metadata"]["namespace"] == "team-a"
    ((group, version, ns, plural, body),) = custom.calls
    assert (group, version, ns, plural) == ("kubeflow.org", "v1beta1", "team-a", "experiments")
    assert body["kind"] == "Experiment" and body["metadata"]["namespace"] == "team-a"
    with pytest.raises(EnvironmentProblem, match="Forbidden") as info:
        create(_Core(), _Custom(403))
    assert info.value.exit_code == 3


def test_k8s_names() -> None:
    assert katib.k8s_name("Linear Demo_v2!") == "linear-demo-v2"
    assert katib.k8s_name("123") == "kl-123"
    assert len(katib.k8s_name("x" * 100)) == katib.NAME_MAX


def test_built_images_reach_the_pipeline_and_the_trial(tmp_path: Path) -> None:
    images = {"load": "reg/env-a:1", "transform": "reg/env-b:2", "summarize": "reg/env-a:1"}
    res = sweep(
        linear_pipeline(),
        params=["n=int:1:3"],
        objective="mean",
        engine="katib",
        dry_run=True,
        output_dir=tmp_path,
        images=images,
        katib=KatibTarget(mlmd_host="http://mlmd:9090"),
    )
    cm, exp = res.manifest
    job = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == "reg/env-a:1"  # a built image carries kale_like
    assert job["containers"][0]["command"][-2:] == ["--mlmd-host", "http://mlmd:9090"]
    executors = yaml.safe_load(cm["data"]["pipeline.yaml"])["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {"reg/env-a:1", "reg/env-b:2"}


def test_pipeline_too_large_for_a_config_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    mod = importlib.import_module("kale_like.api.sweep_katib")
    monkeypatch.setattr(mod, "CONFIG_MAP_LIMIT", 1000)
    with pytest.raises(UsageError, match="a ConfigMap holds at most 1000 bytes"):
        _dry_run(tmp_path)
    assert not (tmp_path / "out").exists()


def test_create_without_the_kubernetes_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # (compiling needs kfp, which needs kubernetes: only the client factory can lack it)
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # makes `import kubernetes` fail
    with pytest.raises(EnvironmentProblem) as info:
        katib.default_clients()
    assert info.value.exit_code == 3
    assert info.value.fix == "pip install 'kale-like[katib]'"
