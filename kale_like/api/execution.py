"""The ``run`` verb: run a notebook as a pipeline on an engine (local by default)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import engines, params
from ..errors import UsageError
from ..model import Pipeline
from ..pipeline import load_checked
from ..run_results import ProgressCallback, RunResult

__all__ = ["parse_cli_parameters", "prepare", "run"]

NotebookLike = str | os.PathLike[str] | Pipeline


def prepare(
    notebook: NotebookLike,
    *,
    pipeline_name: str | None = None,
    run_root: str | os.PathLike[str] | None = None,
) -> Pipeline:
    """The checked pipeline of ``notebook`` (a path, or an already built Pipeline), with the
    observed facts stored under ``run_root`` (see :mod:`kale_like.pipeline.observed`)."""
    if isinstance(notebook, Pipeline):
        pipeline = load_checked(notebook)
    else:
        # A path-like that is neither str nor Path still names the notebook's file.
        given = notebook if isinstance(notebook, (str, Path)) else Path(notebook).absolute()
        root = os.fspath(run_root) if run_root else None
        pipeline = load_checked(notebook, run_root=root, path=str(given))
    if pipeline_name is not None:
        pipeline = dataclasses.replace(pipeline, name=pipeline_name)
    return pipeline


def parse_cli_parameters(
    pipeline: Pipeline,
    *,
    params_: Sequence[Sequence[str]] = (),
    raw: Sequence[Sequence[str]] = (),
    yaml_strings: Sequence[str] = (),
    files: Sequence[str] = (),
) -> dict[str, Any]:
    """papermill-style ``-p/-r/-y/-f`` arguments -> checked parameter overrides."""
    overrides = params.from_cli(
        pipeline, params=params_, raw=raw, yaml_strings=yaml_strings, files=files
    )
    params.resolve(pipeline, overrides)  # raises UsageError on a type mismatch
    return overrides


def run(
    notebook: NotebookLike,
    *,
    parameters: Mapping[str, Any] | None = None,
    engine: str = "local",
    jobs: int | None = None,
    use_cache: bool = True,
    from_step: str | None = None,
    only: str | Sequence[str] | None = None,
    run_root: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    pipeline_name: str | None = None,
    keep_values: bool = False,
    engine_options: Mapping[str, Any] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run ``notebook`` as a pipeline and return its :class:`~kale_like.run_results.RunResult`.

    ``parameters`` override the defaults of the ``pipeline-parameters`` cell (checked
    against their types); ``engine_options`` reach the engine as ``RunRequest.options``
    (e.g. ``host`` for ``kfp``). A failed step does not raise: the result has
    ``status == "failed"`` and ``failed_step`` set. Bad input raises ``InputError``; a
    missing engine or an unwritable run root raises ``EnvironmentProblem``. ``cancel`` (a
    :class:`~kale_like.engines.CancelToken` or any ``threading.Event``) stops the run when
    set: running steps are killed within seconds and the result's status is "cancelled".
    """
    eng = engines.get(engine)  # unknown engine fails before any work
    engines.check_options(engine, engine_options, eng)  # and options it would ignore
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise UsageError(
            f"--jobs must be a whole number of at least 1, got {jobs!r}", kind="bad-jobs"
        )
    pipeline = prepare(notebook, pipeline_name=pipeline_name, run_root=run_root)
    values = params.resolve(pipeline, parameters)
    can = engines.capabilities(engine, eng)
    if engines.KFP_ARGUMENTS in can:
        from ..codegen import kfp_arguments

        kfp_arguments(pipeline, values)  # values KFP cannot carry fail before any run folder
    only_steps = (only,) if isinstance(only, str) else tuple(only or ())
    nb_path: Path | None = None
    if not isinstance(notebook, Pipeline):
        nb_path = Path(notebook).absolute()
    elif pipeline.notebook_path:
        nb_path = Path(pipeline.notebook_path).absolute()
    request = engines.RunRequest(
        pipeline=pipeline,
        parameters=values,
        notebook_path=nb_path,
        run_root=Path(run_root).absolute() if run_root is not None else None,
        jobs=jobs,
        use_cache=use_cache,
        from_step=from_step,
        only=only_steps,
        progress=progress,
        keep_values=keep_values,
        options=dict(engine_options or {}),
        cancel=cancel,
    )
    result = eng.run(request)
    if engines.RECORDS_OBSERVED in can and nb_path is not None:
        from ..pipeline.observed import record_run

        # Writes the analysis missed feed later analyses of the same code.
        ran = dataclasses.replace(pipeline, notebook_path=str(nb_path))
        record_run(ran, result.run_dir, run_root)
    return result
