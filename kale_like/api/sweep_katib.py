"""The Katib side of ``sweep``: compile the pipeline and build (or create) the Experiment."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..codegen.names import allocate_names
from ..errors import EnvironmentProblem, KaleError, UsageError
from ..fsutil import write_text_atomic
from ..model import Pipeline
from ..sweep.algorithms import katib_name
from ..sweep.options import Budget, KatibTarget
from ..sweep.space import GRIDDABLE, Dimension, katib_parameter
from ..sweep.trials import SweepResult

CONFIG_MAP_LIMIT = 1_000_000  # bytes: Kubernetes caps a ConfigMap at 1 MiB, keep headroom


def katib_sweep(
    nb_path: Path | None,
    pipeline: Pipeline,
    dims: list[Dimension],
    metric: str,
    direction: str,
    algo: str,
    *,
    budget: Budget,
    goal: Any,
    target: KatibTarget,
    dry_run: bool,
    output_dir: Any,
    k8s_client: Any,
    images: Mapping[str, str] | None,
    base_image: str | None,
) -> SweepResult:
    """The Katib Experiment of a planned sweep: ``budget`` holds resolved counts (no None);
    written to ``output_dir`` and, unless ``dry_run``, created in the cluster."""
    from ..kubeflow import katib

    _check_grid(algo, dims)
    secret_ref = _secret_ref(target.token_secret)
    if dry_run and output_dir is None:
        raise UsageError("--dry-run needs -o DIR for the Experiment YAML", kind="usage")
    built = [images[s] for s in pipeline.step_names if images and s in images]
    image = target.trial_image or (built[0] if built else None) or _runtime_image(pipeline)
    pipeline_yaml = _compiled_yaml(nb_path, pipeline, images, base_image)
    exp_name = katib.k8s_name(target.name or pipeline.name)
    inputs = katib.ExperimentInputs(
        name=exp_name,
        metric=metric,
        direction=direction,
        algorithm=katib_name(algo),
        parameters=tuple(katib_parameter(d) for d in dims),
        image=image,
        pipeline_yaml=pipeline_yaml,
        additional_metrics=tuple(m.name for m in pipeline.metrics if m.name != metric),
        goal=None if goal in (None, "") else float(goal),
        # sweep() resolved the budget: no count is None here
        parallel=int(budget.parallel or 1),
        max_trials=int(budget.trials or 0),
        max_failed=int(budget.max_failed or 0),
        namespace=target.namespace,
        kfp_host=target.host or katib.DEFAULT_KFP_HOST,
        service_account=target.service_account
        if target.service_account is not None
        else katib.DEFAULT_SERVICE_ACCOUNT,
        token_secret=secret_ref,
        pipeline_name=pipeline.name,
        mlmd_host=target.mlmd_host,
        # the trial passes values to the compiled pipeline, whose inputs may be renamed
        input_names=allocate_names(pipeline).parameters,
    )
    docs = katib.manifests(inputs)
    result = SweepResult(
        sweep_id=exp_name,
        metric=metric,
        direction=direction,  # type: ignore[arg-type]
        engine="katib",
        manifest=docs,
        status="dry-run" if dry_run else "created",
    )
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{pipeline.name}-experiment.yaml"
        write_text_atomic(path, katib.dump_yaml(docs))
        result.manifest_path = str(path)
    if dry_run:
        return result
    _create(docs, k8s_client, target.namespace, exp_name)
    return result


def _check_grid(algo: str, dims: list[Dimension]) -> None:
    """Katib's grid enumerates only discrete parameters."""
    if algo == "grid":
        bad = [d for d in dims if d.kind not in GRIDDABLE]
        if bad:
            raise UsageError(
                f"Katib's grid cannot enumerate {bad[0].kind} parameter {bad[0].name!r}",
                kind="bad-search-space",
                fix="use choice:, range:min:max:step or int: for grid sweeps on Katib",
            )


def _secret_ref(token_secret: str | None) -> tuple[str, str] | None:
    """``SECRET:KEY`` as a pair (None without one)."""
    if not token_secret:
        return None
    sname, sep, key = token_secret.partition(":")
    if not sep or not sname or not key:
        raise UsageError(f"--token-secret {token_secret!r}: expected SECRET:KEY")
    return (sname, key)


def _compiled_yaml(
    nb_path: Path | None,
    pipeline: Pipeline,
    images: Mapping[str, str] | None,
    base_image: str | None,
) -> str:
    """The pipeline compiled for the trials, small enough for the ConfigMap they mount."""
    with tempfile.TemporaryDirectory(prefix="kale-like-katib-") as tmp:
        from .compilation import compile as compile_notebook

        compiled = compile_notebook(
            nb_path if nb_path is not None else pipeline,
            tmp,
            images=dict(images) if images else None,
            base_image=base_image,
        )
        pipeline_yaml = Path(compiled.yaml_path).read_text(encoding="utf-8")
    size = len(pipeline_yaml.encode("utf-8"))
    if size > CONFIG_MAP_LIMIT:
        raise UsageError(
            f"the compiled pipeline is {size} bytes; a ConfigMap holds at most "
            f"{CONFIG_MAP_LIMIT} bytes, so the trials could not mount it",
            kind="pipeline-too-large",
            fix="move large literals out of the notebook code (read them from files or volumes)",
        )
    return pipeline_yaml


def _create(docs: Any, k8s_client: Any, namespace: str | None, exp_name: str) -> None:
    """Create the Experiment's objects in the cluster."""
    from ..kubeflow import katib

    clients = k8s_client if k8s_client is not None else katib.default_clients()
    ns = namespace or katib.default_namespace()
    try:
        katib.create(docs, clients, ns)
    except KaleError:
        raise
    except Exception as exc:  # noqa: BLE001 - an API error from the cluster
        raise EnvironmentProblem(
            f"creating the Katib Experiment {exp_name!r} in namespace {ns!r} failed: "
            f"{getattr(exc, 'reason', None) or exc}",
            kind="katib-create-failed",
            fix="check that Katib is installed and that you may create Experiments there",
        ) from None


def _runtime_image(pipeline: Pipeline) -> str:
    """The trial image: the project's runtime image (see ``kale-like build``)."""
    try:
        from .. import images

        ref = getattr(images, "runtime_image", None)
        if callable(ref):
            return str(ref(pipeline))
        if isinstance(getattr(images, "RUNTIME_IMAGE", None), str):
            return str(getattr(images, "RUNTIME_IMAGE"))  # noqa: B009
    except ImportError:
        pass
    if pipeline.base_image:
        return pipeline.base_image
    raise UsageError(
        "no trial image: the Katib trial runs `kale-like trial` in the project's runtime image",
        kind="no-trial-image",
        fix="pass --trial-image REF (an image with kale-like installed), or --images to "
        "build the step images, which carry it",
    )
