"""``sweep``: a hyperparameter sweep over the whole pipeline, locally or as a Katib Experiment.

Settings come from the arguments, falling back to the notebook's Kale-compatible
``kubeflow_notebook.katib_metadata`` block (parameters, objective, algorithm, trial counts).
"""

from __future__ import annotations

import os
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model import Pipeline
from ..pipeline import load_checked
from ..sweep.algorithms import normalize
from ..sweep.local import LocalSweep, RunFn, SweepState
from ..sweep.options import Budget, KatibTarget
from ..sweep.space import (
    Dimension,
    grid_size,
    parse_space,
    spec_from_katib,
)
from ..sweep.trials import SweepProgress, SweepResult

ENGINES = ("local", "katib")
DEFAULT_TRIALS = 12  # Kale's maxTrialCount default
DEFAULT_MAX_FAILED = 3  # Kale's maxFailedTrialCount default
_SWEEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def katib_metadata(pipeline: Pipeline) -> dict[str, Any]:
    """The notebook's ``katib_metadata`` block (``{}`` when absent)."""
    meta = pipeline.metadata or {}
    block = meta.get("katib_metadata")
    if block is None and isinstance(meta.get("kubeflow_notebook"), Mapping):
        block = meta["kubeflow_notebook"].get("katib_metadata")
    return dict(block) if isinstance(block, Mapping) else {}


def check_objective(pipeline: Pipeline, metric: str | None) -> str:
    names = [m.name for m in pipeline.metrics]
    valid = ", ".join(names) if names else "none (the notebook has no `pipeline-metrics` cell)"
    if not metric:
        raise UsageError(
            f"no objective: pass --objective METRIC; the notebook's metrics: {valid}",
            kind="unknown-metric",
        )
    if metric not in names:
        raise UsageError(
            f"objective {metric!r} is not a metric of the notebook; its metrics: {valid}",
            kind="unknown-metric",
            fix="print the metric in the cell tagged `pipeline-metrics`",
        )
    return metric


def _direction(maximize: bool | None, katib: Mapping[str, Any]) -> str:
    if maximize is not None:
        return "maximize" if maximize else "minimize"
    kind = str((katib.get("objective") or {}).get("type") or "minimize").lower()
    if kind not in ("maximize", "minimize"):
        raise UsageError(f"katib_metadata objective type {kind!r} is not maximize|minimize")
    return kind


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum or isinstance(value, bool):
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}", kind="usage")
    return number


def _space_arg(
    pipeline: Pipeline, params: Mapping[str, Any] | Iterable[str] | None, katib: Mapping[str, Any]
) -> list[Dimension]:
    if params:
        return parse_space(pipeline, params)
    entries = katib.get("parameters") or []
    return parse_space(
        pipeline, dict(spec_from_katib(e) for e in entries if isinstance(e, Mapping))
    )


def _trial_count(
    algorithm: str, dims: list[Dimension], trials: Any, grid_points: int | None
) -> int:
    if algorithm == "grid":
        size = grid_size(dims, grid_points)
        return size if trials is None else min(size, _positive("--trials", trials))
    return DEFAULT_TRIALS if trials is None else _positive("--trials", trials)


def new_sweep_id() -> str:
    """Sortable and unique, shaped as a run id (``records.new_run_id``)."""
    from ..records import new_run_id

    return new_run_id()


def sweep_dir_of(run_root: Path, sweep_id: str) -> Path:
    if not _SWEEP_ID.match(sweep_id):
        raise UsageError(f"bad sweep id {sweep_id!r}", kind="unknown-sweep")
    return run_root / "sweeps" / sweep_id


def _run_root(run_root: str | os.PathLike[str] | None, notebook: Path | None) -> Path:
    if run_root is not None:
        return Path(run_root).expanduser().absolute()
    from ..records import default_run_root

    return default_run_root(notebook).absolute()


def _default_run_fn() -> RunFn:
    from .execution import run

    def run_local(notebook: str, **kw: Any) -> Any:
        return run(notebook, engine="local", **kw)

    return run_local


@dataclass(frozen=True)
class _Plan:
    """The sweep's settings once arguments and ``katib_metadata`` are merged and checked."""

    pipeline: Pipeline
    nb_path: Path | None
    dims: list[Dimension]
    metric: str
    direction: str
    algorithm: str
    trials: int
    parallel: int
    max_failed: int
    goal: Any
    grid_points: int | None
    fixed: dict[str, Any]


def sweep(
    notebook: str | os.PathLike[str] | Pipeline | None = None,
    *,
    params: Mapping[str, Any] | Iterable[str] | None = None,
    objective: str | None = None,
    maximize: bool | None = None,
    algorithm: str | None = None,
    budget: Budget | None = None,
    seed: int | None = None,
    grid_points: int | None = None,
    parameters: Mapping[str, Any] | None = None,
    engine: str = "local",
    resume: str | None = None,
    run_root: str | os.PathLike[str] | None = None,
    progress: SweepProgress | None = None,
    cancel: threading.Event | None = None,
    run_fn: RunFn | None = None,
    dry_run: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    katib: KatibTarget | None = None,
    k8s_client: Any = None,
    images: Mapping[str, str] | None = None,
    base_image: str | None = None,
) -> SweepResult:
    """Sweep ``params`` (``["NAME=SPEC"]`` or ``{NAME: SPEC}``) optimizing ``objective``.

    ``notebook`` is a path or an analysed :class:`~kale_like.model.Pipeline` (resumable
    only when it has a ``notebook_path``). ``parameters`` holds other parameters fixed;
    ``budget`` caps the trials (:class:`~kale_like.sweep.options.Budget`).

    ``engine="local"`` runs every trial with the local engine under one run root (shared
    cache) and writes ``<run_root>/sweeps/<sweep_id>/``; ``resume=SWEEP_ID`` continues an
    interrupted local sweep; setting the ``cancel`` event stops it like Ctrl-C does.
    ``engine="katib"`` builds a Katib Experiment (where: ``katib``, a
    :class:`~kale_like.sweep.options.KatibTarget`): written to ``output_dir`` with
    ``dry_run=True``, else created through ``k8s_client``; ``images`` (step -> image, from
    ``build``) and ``base_image`` go to the compiled pipeline, and the trial image defaults
    to a built step image (they carry the kale_like runtime).
    """
    if engine not in ENGINES:
        raise UsageError(
            f"unknown sweep engine {engine!r}; valid engines: {', '.join(ENGINES)}",
            kind="unknown-engine",
        )
    if resume is not None:
        if engine != "local":
            raise UsageError("--resume continues local sweeps only", kind="usage")
        nb_path = Path(notebook) if isinstance(notebook, (str, os.PathLike)) else None
        return _resume(resume, _run_root(run_root, nb_path), run_fn, progress, cancel)
    if notebook is None:
        raise UsageError("a notebook is required (or --resume SWEEP_ID)", kind="usage")
    plan = _plan(
        notebook,
        params,
        objective,
        maximize,
        algorithm,
        budget or Budget(),
        grid_points,
        parameters,
        run_root,
    )
    if engine == "katib":
        target = katib or KatibTarget()
        return _katib(plan, target, dry_run, output_dir, k8s_client, images, base_image)
    _check_optuna(plan.algorithm)
    runner = _local_sweep(plan, seed, _run_root(run_root, plan.nb_path), run_fn, progress, cancel)
    if isinstance(notebook, Pipeline):  # trials run the given pipeline as is
        runner.target = plan.pipeline
    return runner.run()


def _katib(
    plan: _Plan,
    target: KatibTarget,
    dry_run: bool,
    output_dir: Any,
    k8s_client: Any,
    images: Mapping[str, str] | None,
    base_image: str | None,
) -> SweepResult:
    """The planned sweep as a Katib Experiment (see :mod:`.sweep_katib`)."""
    if plan.fixed:
        raise UsageError("fixed parameters (-p) are not supported with --engine katib")
    from .sweep_katib import katib_sweep

    return katib_sweep(
        plan.nb_path,
        plan.pipeline,
        plan.dims,
        plan.metric,
        plan.direction,
        plan.algorithm,
        budget=Budget(plan.trials, plan.parallel, plan.max_failed),
        goal=plan.goal,
        target=target,
        dry_run=dry_run,
        output_dir=output_dir,
        k8s_client=k8s_client,
        images=images,
        base_image=base_image,
    )


def _check_optuna(algorithm: str) -> None:
    """Fail before creating a sweep folder when the algorithm needs a missing optuna."""
    if algorithm in ("bayesian", "tpe"):
        try:
            import optuna  # noqa: F401
        except ImportError:
            from ..errors import missing_extra

            raise missing_extra("optuna", "sweep", f"the {algorithm} sweep algorithm") from None


def _plan(
    notebook: str | os.PathLike[str] | Pipeline,
    params: Mapping[str, Any] | Iterable[str] | None,
    objective: str | None,
    maximize: bool | None,
    algorithm: str | None,
    budget: Budget,
    grid_points: int | None,
    parameters: Mapping[str, Any] | None,
    run_root: Any,
) -> _Plan:
    """The arguments checked and completed from the notebook's ``katib_metadata``."""
    pipeline, nb_path = _load(notebook, run_root)
    katib = katib_metadata(pipeline)
    dims = _space_arg(pipeline, params, katib)
    goal = katib.get("objective") or {}
    metric = check_objective(pipeline, objective or goal.get("objectiveMetricName"))
    direction = _direction(maximize, katib)
    algo = normalize(algorithm or (katib.get("algorithm") or {}).get("algorithmName") or "random")
    if grid_points is not None:
        grid_points = _positive("--grid-points", grid_points)
    fixed: dict[str, Any] = {}
    if parameters:
        from ..params import resolve

        clash = sorted({d.name for d in dims} & set(parameters))
        if clash:
            raise UsageError(f"parameter(s) {', '.join(clash)} are both swept and fixed")
        fixed = {k: v for k, v in resolve(pipeline, parameters).items() if k in parameters}
    trials = budget.trials if budget.trials is not None else katib.get("maxTrialCount")
    parallel = budget.parallel if budget.parallel is not None else katib.get("parallelTrialCount")
    failed = (
        budget.max_failed if budget.max_failed is not None else katib.get("maxFailedTrialCount")
    )
    return _Plan(
        pipeline=pipeline,
        nb_path=nb_path,
        dims=dims,
        metric=metric,
        direction=direction,
        algorithm=algo,
        trials=_trial_count(algo, dims, trials, grid_points),
        parallel=_positive("--parallel", parallel or 1),
        max_failed=DEFAULT_MAX_FAILED if failed is None else _positive("--max-failed", failed, 0),
        goal=goal.get("goal"),
        grid_points=grid_points,
        fixed=fixed,
    )


def _local_sweep(
    plan: _Plan,
    seed: int | None,
    root: Path,
    run_fn: RunFn | None,
    progress: SweepProgress | None,
    cancel: threading.Event | None,
) -> LocalSweep:
    """A new local sweep's folder and runner under ``root``."""
    sweep_id = new_sweep_id()
    sweep_dir = sweep_dir_of(root, sweep_id)
    sweep_dir.mkdir(parents=True, exist_ok=False)
    state = SweepState(
        sweep_id=sweep_id,
        notebook=str(plan.nb_path.absolute()) if plan.nb_path is not None else "",
        space={d.name: d.spec for d in plan.dims},
        metric=plan.metric,
        direction=plan.direction,
        algorithm=plan.algorithm,
        trials=plan.trials,
        parallel=plan.parallel,
        max_failed=plan.max_failed,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        grid_points=plan.grid_points,
        run_root=str(root),
        fixed=plan.fixed,
    )
    return LocalSweep(state, plan.dims, sweep_dir, run_fn or _default_run_fn(), progress, cancel)


def _load(
    notebook: str | os.PathLike[str] | Pipeline, run_root: Any = None
) -> tuple[Pipeline, Path | None]:
    """The checked pipeline (as `run` refuses an error diagnostic, which would fail every
    trial) and the notebook's path."""
    if isinstance(notebook, Pipeline):
        path = Path(notebook.notebook_path) if notebook.notebook_path else None
        return load_checked(notebook), path
    return _load_path(Path(notebook), run_root), Path(notebook)


def _load_path(path: Path, run_root: Any = None) -> Pipeline:
    # Observed facts of the sweep's run root (pipeline/observed.py) feed its trials too.
    return load_checked(path, run_root=os.fspath(run_root) if run_root else None)


def _resume(
    sweep_id: str,
    root: Path,
    run_fn: RunFn | None,
    progress: SweepProgress | None,
    cancel: threading.Event | None = None,
) -> SweepResult:
    sweep_dir = sweep_dir_of(root, sweep_id)
    state = SweepState.load(sweep_dir)
    if not state.notebook:
        raise UsageError(f"sweep {sweep_id!r} ran an in-memory pipeline: it cannot be resumed")
    pipeline = _load_path(Path(state.notebook))
    dims = parse_space(pipeline, state.space)
    runner = LocalSweep(state, dims, sweep_dir, run_fn or _default_run_fn(), progress, cancel)
    return runner.run()
