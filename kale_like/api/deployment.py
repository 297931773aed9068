"""Deploy to Kubeflow Pipelines: compile, upload (or add a version), run, watch; list remote runs.

Every verb takes an optional ``client`` (a ``kfp.Client``-like object) so callers and tests
need no cluster; without one, a real ``kfp.Client`` is built from the resolved settings
(:mod:`kale_like.kubeflow.config`). Credentials never reach generated files: compiling happens
before and apart from connecting. Uploading and running a compiled YAML is
:mod:`kale_like.kubeflow.deploy` (the ``kfp`` engine uses it too).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..kubeflow.config import KfpTarget
from ..kubeflow.deploy import (
    DeployResult,
    MetricsReader,
    RemoteRunResult,
    check_parameters,
    connect,
    default_run_name,
    deploy_compiled,
    input_name,
    read_spec,
    spec_parameters,
    version_name,
    watch_run,
)
from ..model import Pipeline
from ..run_results import ProgressCallback

__all__ = [
    "DeployResult",
    "KfpTarget",
    "MetricsReader",
    "RemoteRunResult",
    "check_parameters",
    "deploy",
    "input_name",
    "metrics_reader",
    "read_spec",
    "remote_run_show",
    "remote_runs_list",
    "spec_parameters",
    "submit_and_wait",
    "version_name",
]


# ------------------------------------------------------------------------------ helpers


def _materialize(
    notebook: Any,
    out_dir: Path,
    images: Mapping[str, str] | None,
    observe: bool = False,
    run_root: str | Path | None = None,
) -> tuple[Path, Pipeline | None]:
    """(yaml path, pipeline) for a notebook, a Pipeline, or an already compiled YAML."""
    if isinstance(notebook, (str, Path)) and str(notebook).endswith((".yaml", ".yml")):
        path = Path(notebook)
        if not path.is_file():
            raise UsageError(f"pipeline YAML {str(path)!r} does not exist", kind="no-such-file")
        return path, None
    from .compilation import compile as compile_notebook

    res = compile_notebook(
        notebook,
        out_dir,
        images=dict(images) if images else None,
        observe=observe,
        run_root=run_root,
    )
    return Path(res.yaml_path), res.pipeline


# ------------------------------------------------------------------------------ verbs


def deploy(
    notebook: Any,
    *,
    kfp: KfpTarget | None = None,
    parameters: Mapping[str, Any] | None = None,
    upload_only: bool = False,
    version: str | None = None,
    watch: bool = False,
    client: Any = None,
    progress: ProgressCallback | None = None,
    images: Mapping[str, str] | None = None,
    run_name: str | None = None,
    poll: float = 2.0,
    timeout: float | None = None,
    observe: bool = False,
    run_root: str | Path | None = None,
) -> DeployResult:
    """Upload ``notebook`` (a path, notebook dict, Pipeline or compiled ``.yaml``) to the KFP
    endpoint ``kfp`` asks for (unset fields resolve as :mod:`kale_like.kubeflow.config` says).

    A new pipeline is created when none has its name, otherwise a new version is added
    (named ``version`` or ``NAME-DIGEST-TIMESTAMP``). Unless ``upload_only``, a run with
    ``parameters`` starts in ``experiment`` (created if missing); ``watch`` follows it.
    ``observe`` runs a notebook locally first when no run observed its current code (see
    :mod:`kale_like.api.observed`); if that run fails, nothing is uploaded.
    """
    kfp = kfp or KfpTarget()
    with tempfile.TemporaryDirectory(prefix="kale-like-deploy-") as tmp:
        yaml_path, pipeline = _materialize(notebook, Path(tmp), images, observe, run_root)
        return deploy_compiled(
            yaml_path,
            pipeline,
            host=kfp.host,
            namespace=kfp.namespace,
            experiment=kfp.experiment,
            parameters=parameters,
            upload_only=upload_only,
            version=version,
            watch=watch,
            client=client,
            progress=progress,
            token_file=kfp.token_file,
            config_path=kfp.config_path,
            run_name=run_name,
            poll=poll,
            timeout=timeout,
        )


def submit_and_wait(
    yaml_path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    host: str | None = None,
    namespace: str | None = None,
    experiment: str | None = None,
    token_file: str | None = None,
    run_name: str | None = None,
    client: Any = None,
    progress: ProgressCallback | None = None,
    metrics_reader: MetricsReader | None = None,
    step_names: list[str] | None = None,
    poll: float = 2.0,
    timeout: float | None = None,
) -> RemoteRunResult:
    """Run a compiled pipeline once on KFP (no upload: the spec travels with the run), wait.

    ``metrics_reader(remote, snapshot)`` supplies the metrics: KFP's REST API reports task
    states but keeps metric values in ML Metadata, which it does not serve.
    """
    path = Path(yaml_path)
    spec = read_spec(path)
    overrides = check_parameters(spec, None, parameters)
    remote = connect(
        host=host, namespace=namespace, experiment=experiment, token_file=token_file, client=client
    )
    exp_id = remote.experiment(remote.config.experiment)
    info = spec.get("pipelineInfo") or {}
    name = default_run_name(run_name, str(info.get("name", "pipeline")))
    run_id = remote.start_run(exp_id, name, None, None, overrides, package_path=str(path))
    snap = watch_run(remote, run_id, spec, step_names, progress, poll, timeout)
    metrics = dict(metrics_reader(remote, snap)) if metrics_reader else {}
    return RemoteRunResult(snap.status, metrics, run_id, remote.run_url(run_id), snap.steps)


def remote_runs_list(
    *,
    host: str | None = None,
    namespace: str | None = None,
    experiment_id: str | None = None,
    limit: int = 20,
    token_file: str | None = None,
    client: Any = None,
) -> list[dict[str, Any]]:
    """The most recent runs on the endpoint (newest first) as JSON-able dicts."""
    remote = connect(host=host, namespace=namespace, token_file=token_file, client=client)
    out = []
    for snap in remote.list(experiment_id=experiment_id, page_size=limit):
        item = snap.to_json()
        item["run_url"] = remote.run_url(snap.run_id)
        out.append(item)
    return out


def remote_run_show(
    run_id: str,
    *,
    host: str | None = None,
    namespace: str | None = None,
    token_file: str | None = None,
    client: Any = None,
    metrics_reader: MetricsReader | None = None,
) -> dict[str, Any]:
    """One run: state, per-step states (and metrics when a reader is given)."""
    if not run_id or not run_id.strip():
        raise UsageError("a run id is required", kind="bad-run-id")
    remote = connect(host=host, namespace=namespace, token_file=token_file, client=client)
    snap = remote.get(run_id)
    item = snap.to_json()
    item["run_url"] = remote.run_url(run_id)
    item["metrics"] = dict(metrics_reader(remote, snap)) if metrics_reader else {}
    return item


def metrics_reader(url: str | None = None) -> MetricsReader | None:
    """A reader of a KFP run's metrics from ML Metadata at ``url`` (default
    ``$KALE_LIKE_MLMD_HOST``) for ``submit_and_wait``/``remote_run_show``; None without one."""
    from ..kubeflow import mlmd

    url = url or os.environ.get(mlmd.HOST_ENV)
    return mlmd.reader(url) if url else None
