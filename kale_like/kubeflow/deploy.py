"""Deploy a compiled pipeline to Kubeflow Pipelines: upload (or add a version), run, watch.

What the ``kfp`` engine and the ``deploy`` verb share: both hand over a compiled IR YAML
(and the pipeline it came from, for names and parameter types). Credentials never reach
generated files: the YAML is compiled before and apart from connecting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model import Pipeline
from ..run_results import ProgressCallback, RunEvent, StepResult

__all__ = [
    "DeployResult",
    "MetricsReader",
    "RemoteRunResult",
    "check_parameters",
    "connect",
    "deploy_compiled",
    "input_name",
    "read_spec",
    "default_run_name",
    "spec_parameters",
    "version_name",
    "watch_run",
]

MetricsReader = Callable[[Any, Any], Mapping[str, Any]]
"""``reader(remote, snapshot) -> {metric: value}`` for a finished remote run."""


@dataclass
class DeployResult:
    """What ``deploy`` did. ``run_id``/``run_url`` are None with ``upload_only``."""

    pipeline_id: str
    version_id: str
    run_id: str | None
    run_url: str | None
    status: str  # uploaded | submitted | running | succeeded | failed | cancelled
    pipeline_name: str = ""
    version_name: str | None = None
    new_pipeline: bool = False
    experiment_id: str | None = None
    steps: dict[str, StepResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline_id": self.pipeline_id,
            "version_id": self.version_id,
            "pipeline_name": self.pipeline_name,
            "version_name": self.version_name,
            "new_pipeline": self.new_pipeline,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "run_url": self.run_url,
            "status": self.status,
            "steps": {n: s.to_json() for n, s in self.steps.items()},
        }


@dataclass
class RemoteRunResult:
    """A finished remote run: status, metrics (when a reader provides them) and steps."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    run_url: str = ""
    steps: dict[str, StepResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_url": self.run_url,
            "status": self.status,
            "metrics": self.metrics,
            "steps": {n: s.to_json() for n, s in self.steps.items()},
        }


# ------------------------------------------------------------------------------ helpers


def read_spec(yaml_path: Path) -> dict[str, Any]:
    import yaml

    try:
        docs = list(yaml.safe_load_all(yaml_path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read pipeline YAML {str(yaml_path)!r}: {exc}", kind="bad-pipeline-yaml"
        ) from exc
    if not docs or not isinstance(docs[0], dict) or "pipelineInfo" not in docs[0]:
        raise UsageError(
            f"{str(yaml_path)!r} is not a compiled KFP pipeline",
            kind="bad-pipeline-yaml",
            fix="compile it with `kale-like compile`",
        )
    return docs[0]


_KFP_TYPES = {
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "STRING": "str",
    "BOOLEAN": "bool",
    "LIST": "list",
    "STRUCT": "dict",
}


def spec_parameters(spec: Mapping[str, Any]) -> list[Any]:
    """The pipeline inputs of a compiled spec as :class:`model.Parameter` objects."""
    from ..model import Parameter

    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return [
        Parameter(
            name,
            decl.get("defaultValue"),
            _KFP_TYPES.get(decl.get("parameterType", "STRING"), "str"),
        )
        for name, decl in declared.items()
    ]


def input_name(declared: Sequence[Any], name: str) -> str:
    """A compiled spec's inputs carry KFP's names: the notebook's spelling of a parameter
    (``LEARNING_RATE``) names the input it was compiled to (``learning_rate``)."""
    from ..codegen.names import ascii_identifier

    inputs = {p.name for p in declared}
    kfp = ascii_identifier(name, lower=True)
    return kfp if name not in inputs and kfp in inputs else name


def check_parameters(
    spec: Mapping[str, Any], pipeline: Pipeline | None, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The overrides, type-checked against the notebook (or the spec's inputs); exit 2 if bad."""
    from .. import params

    if not values:
        return {}
    if pipeline is None:
        declared = spec_parameters(spec)
        values = {input_name(declared, k): v for k, v in values.items()}
    target = pipeline or Pipeline(
        name="pipeline", steps=(), parameters=tuple(spec_parameters(spec))
    )
    params.resolve(target, values)  # raises UsageError naming the parameter
    resolved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
    if pipeline is None:  # a compiled spec: the names already are KFP's input names
        return resolved
    from ..codegen import kfp_arguments

    # KFP's input names are sanitized (LEARNING_RATE -> learning_rate) and None-default
    # parameters travel as JSON strings.
    return kfp_arguments(pipeline, resolved)


def version_name(name: str, digest: str, when: datetime | None = None) -> str:
    """``NAME-DIGEST12-YYYYmmdd-HHMMSS`` (UTC): unique per content and upload time."""
    when = when or datetime.now(timezone.utc)
    return f"{name}-{digest[:12]}-{when.strftime('%Y%m%d-%H%M%S')}"


def connect(
    *,
    host: str | None,
    namespace: str | None,
    token_file: str | None,
    client: Any,
    experiment: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """A :class:`~kale_like.kubeflow.client.Remote` for the resolved endpoint settings."""
    from . import client as kfp_client
    from . import config as kfp_config

    config = kfp_config.resolve(
        host=host,
        namespace=namespace,
        experiment=experiment,
        token_file=token_file,
        notebook_metadata=metadata,
        config_path=config_path,
        env=env,
    )
    return kfp_client.connect(config, client=client)


def default_run_name(given: str | None, pipeline_name: str) -> str:
    """``given``, else ``PIPELINE YYYY-mm-dd HH:MM:SS`` (UTC)."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return given or f"{pipeline_name} {when}"


def watch_run(
    remote: Any,
    run_id: str,
    spec: dict[str, Any],
    step_names: list[str] | None,
    progress: ProgressCallback | None,
    poll: float,
    timeout: float | None,
) -> Any:
    """Follow a run to its end, naming its tasks after the pipeline's steps."""
    from . import client as kfp_client

    names = kfp_client.task_step_names(spec, step_names)
    return remote.watch(run_id, task_names=names, progress=progress, poll=poll, timeout=timeout)


def _metadata(pipeline: Pipeline | None) -> dict[str, Any]:
    meta = dict((pipeline.metadata if pipeline else None) or {})
    if pipeline is not None and pipeline.experiment:
        inner = dict(meta.get("kubeflow_notebook", meta))
        inner.setdefault("experiment_name", pipeline.experiment)
        meta = {"kubeflow_notebook": inner}
    return meta


def deploy_compiled(
    yaml_path: Path,
    pipeline: Pipeline | None,
    *,
    host: str | None = None,
    namespace: str | None = None,
    experiment: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    upload_only: bool = False,
    version: str | None = None,
    watch: bool = False,
    client: Any = None,
    progress: ProgressCallback | None = None,
    token_file: str | None = None,
    config_path: str | None = None,
    run_name: str | None = None,
    poll: float = 2.0,
    timeout: float | None = None,
) -> DeployResult:
    """Upload the compiled ``yaml_path`` (``pipeline``: the IR it was compiled from, or None
    for a YAML given as such) and, unless ``upload_only``, start a run; ``watch`` follows it.

    A new pipeline is created when none has its name, otherwise a new version is added
    (named ``version`` or ``NAME-DIGEST-TIMESTAMP``).
    """
    spec = read_spec(yaml_path)
    overrides = check_parameters(spec, pipeline, parameters)
    info = spec.get("pipelineInfo") or {}
    name = (pipeline.name if pipeline else None) or info.get("displayName") or info["name"]
    digest = hashlib.sha256(yaml_path.read_bytes()).hexdigest()
    vname = version or version_name(str(name), digest)
    if version is not None and not version.strip():
        raise UsageError("--version must not be empty", kind="bad-version")
    remote = connect(
        host=host,
        namespace=namespace,
        experiment=experiment,
        token_file=token_file,
        metadata=_metadata(pipeline),
        client=client,
        config_path=config_path,
    )
    description = (pipeline.description if pipeline else "") or info.get("description", "")
    for attempt in range(1, 6):
        try:
            pid, vid, new = remote.upload(
                str(yaml_path), str(name), version=vname, description=description
            )
            break
        except UsageError as err:
            # Same content uploaded twice within a second: number the generated name.
            # A name the user chose is never changed.
            if err.kind != "kfp-conflict" or version is not None or attempt == 5:
                raise
            vname = f"{version_name(str(name), digest)}-{attempt + 1}"
    result = DeployResult(
        pid,
        vid,
        None,
        None,
        "uploaded",
        pipeline_name=str(name),
        version_name=None if new else vname,
        new_pipeline=new,
    )
    if upload_only:
        return result
    result.experiment_id = remote.experiment(remote.config.experiment)
    result.run_id = remote.start_run(
        result.experiment_id, default_run_name(run_name, str(name)), pid, vid, overrides
    )
    result.run_url = remote.run_url(result.run_id)
    result.status = "submitted"
    if progress is not None:  # the URL first: the run goes on if the watcher is stopped
        progress(RunEvent(result.run_id, None, "submitted", 0.0, result.run_url))
    if watch:
        steps = pipeline.step_names if pipeline else None
        snap = watch_run(remote, result.run_id, spec, steps, progress, poll, timeout)
        result.status, result.steps = snap.status, snap.steps
    return result
