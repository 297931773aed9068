"""A sweep as a Katib ``Experiment`` (``kubeflow.org/v1beta1``), built as plain data.

The KFP IR YAML is not a Kubernetes resource, so a Katib trial is a ``batch/v1`` Job whose
container runs ``kale-like trial PIPELINE.yaml --host KFP -p NAME ${trialParameters.NAME}``:
it submits the compiled pipeline to Kubeflow Pipelines with the trial's parameters, waits,
and prints ``metric=value`` lines for Katib's StdOut metrics collector.

The compiled pipeline travels in a ConfigMap emitted beside the Experiment (one image serves
every pipeline; a ConfigMap holds up to 1 MiB). Credentials never appear in the manifest:
the Job authenticates to KFP with a projected ServiceAccount token (audience
``pipelines.kubeflow.org``, which ``kfp.Client`` reads by itself), or with a token read from
a Secret the user names (``secretKeyRef``).

Pure builders plus :func:`create`, which takes injected Kubernetes API objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GROUP = "kubeflow.org"
VERSION = "v1beta1"
PLURAL = "experiments"
API_VERSION = f"{GROUP}/{VERSION}"

CONTAINER = "trial"  # primaryContainerName
PIPELINE_DIR = "/etc/kale-like"
PIPELINE_KEY = "pipeline.yaml"
TOKEN_DIR = "/var/run/secrets/kubeflow/pipelines"
TOKEN_AUDIENCE = "pipelines.kubeflow.org"
TOKEN_ENV = "KFP_TOKEN"  # the bearer token variable kale-like's KFP settings read
DEFAULT_KFP_HOST = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
DEFAULT_SERVICE_ACCOUNT = "default-editor"  # the Kubeflow profile account allowed to use KFP
NAME_MAX = 40  # Katib derives trial and job names from the experiment name


@dataclass(frozen=True)
class ExperimentInputs:
    """Everything the manifests are built from (no I/O, no secrets)."""

    name: str  # experiment name (sanitized by :func:`k8s_name`)
    metric: str
    direction: str  # maximize | minimize
    algorithm: str  # Katib algorithmName
    parameters: tuple[dict[str, Any], ...]  # Katib ParameterSpecs
    image: str
    pipeline_yaml: str  # the compiled KFP IR, shipped in the ConfigMap
    additional_metrics: tuple[str, ...] = ()
    goal: float | None = None
    parallel: int = 1
    max_trials: int = 12
    max_failed: int = 3
    namespace: str | None = None
    kfp_host: str = DEFAULT_KFP_HOST
    service_account: str | None = DEFAULT_SERVICE_ACCOUNT
    token_secret: tuple[str, str] | None = None  # (secret name, key)
    pipeline_name: str = ""
    # swept parameter -> the compiled pipeline's input name (``C`` -> ``c``); unlisted: same
    input_names: Mapping[str, str] | None = None
    mlmd_host: str | None = None  # ML Metadata gRPC-web URL, if not the in-cluster default


def k8s_name(text: str, max_len: int = NAME_MAX) -> str:
    """A DNS-1123 label from any text: lowercase, ``[a-z0-9-]``, starting with a letter."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = "kl-" + name
    return name[:max_len].rstrip("-") or "kale-like"


def config_map(inputs: ExperimentInputs) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"{inputs.name}-pipeline", "labels": _labels(inputs)}
    if inputs.namespace:
        meta["namespace"] = inputs.namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {PIPELINE_KEY: inputs.pipeline_yaml},
    }


def _labels(inputs: ExperimentInputs) -> dict[str, str]:
    return {"app.kubernetes.io/created-by": "kale-like", "kale-like/sweep": inputs.name}


def trial_job(inputs: ExperimentInputs) -> dict[str, Any]:
    """The ``batch/v1`` Job of one trial; ``${trialParameters.X}`` is filled in by Katib."""
    command = ["kale-like", "trial", f"{PIPELINE_DIR}/{PIPELINE_KEY}", "--host", inputs.kfp_host]
    renamed = inputs.input_names or {}
    for spec in inputs.parameters:
        name = spec["name"]
        command += ["-p", renamed.get(name, name), "${trialParameters." + name + "}"]
    command += ["--metrics", ",".join((inputs.metric, *inputs.additional_metrics))]
    if inputs.mlmd_host:
        command += ["--mlmd-host", inputs.mlmd_host]
    volumes: list[dict[str, Any]] = [
        {"name": "pipeline", "configMap": {"name": f"{inputs.name}-pipeline"}}
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "pipeline", "mountPath": PIPELINE_DIR, "readOnly": True}
    ]
    env: list[dict[str, Any]] = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        # Multi-user KFP scopes experiments and runs by namespace: the trial's own.
        {
            "name": "KF_PIPELINES_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
    ]
    if inputs.token_secret is not None:
        secret, key = inputs.token_secret
        env.append({"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    else:
        volumes.append(
            {
                "name": "kfp-token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "token",
                                "expirationSeconds": 7200,
                                "audience": TOKEN_AUDIENCE,
                            }
                        }
                    ]
                },
            }
        )
        mounts.append({"name": "kfp-token", "mountPath": TOKEN_DIR, "readOnly": True})
        env.append({"name": "KF_PIPELINES_SA_TOKEN_PATH", "value": f"{TOKEN_DIR}/token"})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": CONTAINER,
                "image": inputs.image,
                "command": command,
                "env": env,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if inputs.service_account:
        pod_spec["serviceAccountName"] = inputs.service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "backoffLimit": 0,
            "template": {
                # The trial talks to KFP through the cluster network, not a mesh sidecar,
                # and a sidecar would keep the Job from completing.
                "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": pod_spec,
            },
        },
    }


def experiment(inputs: ExperimentInputs) -> dict[str, Any]:
    """The ``Experiment`` custom resource."""
    objective: dict[str, Any] = {
        "type": inputs.direction,
        "objectiveMetricName": inputs.metric,
    }
    if inputs.goal is not None:
        objective["goal"] = float(inputs.goal)
    if inputs.additional_metrics:
        objective["additionalMetricNames"] = list(inputs.additional_metrics)
    meta: dict[str, Any] = {"name": inputs.name, "labels": _labels(inputs)}
    if inputs.namespace:
        meta["namespace"] = inputs.namespace
    if inputs.pipeline_name:
        meta["annotations"] = {"kale-like/pipeline": inputs.pipeline_name}
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": meta,
        "spec": {
            "objective": objective,
            "algorithm": {"algorithmName": inputs.algorithm},
            "parallelTrialCount": int(inputs.parallel),
            "maxTrialCount": int(inputs.max_trials),
            "maxFailedTrialCount": int(inputs.max_failed),
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "parameters": [dict(p) for p in inputs.parameters],
            "trialTemplate": {
                "primaryContainerName": CONTAINER,
                "trialParameters": [
                    {
                        "name": p["name"],
                        "reference": p["name"],
                        "description": f"pipeline parameter {p['name']}",
                    }
                    for p in inputs.parameters
                ],
                "trialSpec": trial_job(inputs),
            },
        },
    }


def manifests(inputs: ExperimentInputs) -> list[dict[str, Any]]:
    """ConfigMap first (the Experiment's trials mount it), then the Experiment."""
    return [config_map(inputs), experiment(inputs)]


def dump_yaml(docs: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML; multi-line strings (the pipeline) as readable literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(
        [dict(d) for d in docs], Dumper=Dumper, sort_keys=False, default_flow_style=False
    )


# --- creating on a cluster -----------------------------------------------------------


@dataclass
class KubeClients:
    """The two Kubernetes APIs a sweep needs (real ones or test doubles)."""

    core: Any  # CoreV1Api-like: create_namespaced_config_map, replace_namespaced_config_map
    custom: Any  # CustomObjectsApi-like: create_namespaced_custom_object


def default_clients() -> KubeClients:
    """Clients from the in-cluster config, else ``~/.kube/config`` (``kubernetes`` extra)."""
    from ..errors import EnvironmentProblem, missing_extra

    try:
        from kubernetes import client, config
    except ImportError:
        raise missing_extra("kubernetes", "katib", "creating a Katib Experiment") from None
    try:
        config.load_incluster_config()
    except Exception:  # noqa: BLE001 - not in a pod: fall back to the kubeconfig
        try:
            config.load_kube_config()
        except Exception as exc:  # noqa: BLE001
            raise EnvironmentProblem(
                f"no Kubernetes cluster configured: {exc}",
                kind="no-cluster",
                fix="point KUBECONFIG at your cluster, or use --dry-run -o DIR and kubectl apply",
            ) from None
    return KubeClients(core=client.CoreV1Api(), custom=client.CustomObjectsApi())


def default_namespace() -> str:
    """The pod's namespace in a cluster, else the kubeconfig context's, else ``kubeflow``."""
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as fh:
            return fh.read().strip() or "kubeflow"
    except OSError:
        pass
    try:
        from kubernetes import config

        _, context = config.list_kube_config_contexts()
        return str((context or {}).get("context", {}).get("namespace") or "kubeflow")
    except Exception:  # noqa: BLE001
        return "kubeflow"


def create(
    docs: Sequence[Mapping[str, Any]], clients: KubeClients, namespace: str
) -> dict[str, Any]:
    """Create the ConfigMap (replacing an old one) and the Experiment; returns the latter."""
    created: dict[str, Any] = {}
    for doc in docs:
        body = dict(doc)
        body["metadata"] = {**body.get("metadata", {}), "namespace": namespace}
        if body["kind"] == "ConfigMap":
            try:
                clients.core.create_namespaced_config_map(namespace, body)
            except Exception as exc:  # noqa: BLE001 - 409: the sweep was created before
                if getattr(exc, "status", None) != 409:
                    raise
                clients.core.replace_namespaced_config_map(
                    body["metadata"]["name"], namespace, body
                )
        else:
            created = clients.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body
            )
    return created
