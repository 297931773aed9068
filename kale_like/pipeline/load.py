"""The one way a verb gets its pipeline: read, build, add observed edges, check.

:func:`load_pipeline` returns the IR with every diagnostic (``analyze`` shows them);
:func:`load_checked` also refuses error diagnostics, as every verb that runs or compiles
the pipeline must (``compile``, ``run``, ``verify``, ``build``, ``deploy``, ``sweep``, the
papermill engine).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..errors import AnalysisError, KaleError
from ..model import Pipeline
from ..notebook import read_notebook
from .build import build
from .observed_edges import with_observed

__all__ = ["check_pipeline", "load_checked", "load_pipeline"]


def load_pipeline(
    notebook: Any,
    *,
    pipeline_name: str | None = None,
    experiment: str | None = None,
    description: str | None = None,
    base_image: str | None = None,
    path: str | None = None,
    run_root: str | os.PathLike[str] | None = None,
) -> Pipeline:
    """Analyse a notebook (path, ``NotebookNode`` or dict) into the pipeline IR.

    Keyword arguments override the notebook's ``kubeflow_notebook`` metadata when given.
    Writes earlier local runs observed for the current code (stored under ``run_root``,
    default ``.kale_like/`` beside the notebook) become observed edges. Invalid notebooks
    raise an ``InputError`` naming the kind, cell, line and tag at fault.
    """
    nb_path = path or (str(notebook) if isinstance(notebook, (str, Path)) else None)
    try:
        nb = read_notebook(notebook, collect_tag_errors=True)
        pipeline = build(
            nb,
            nb_path,
            pipeline_name=pipeline_name,
            experiment=experiment,
            description=description,
            base_image=base_image,
        )
        return with_observed(pipeline, run_root)
    except KaleError as err:
        err.path = err.path or nb_path
        raise
    except RecursionError:
        raise AnalysisError(
            "the notebook's code is nested too deeply to analyse",
            kind="too-complex",
            path=nb_path,
            fix="split very long expressions or deeply nested code",
        ) from None


def check_pipeline(pipeline: Pipeline) -> None:
    """Raise :class:`AnalysisError` if the analysis found any error-severity diagnostic."""
    errors = [d for d in pipeline.diagnostics if d.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AnalysisError(
            first.message + more,
            kind=first.kind,
            cell=first.cell,
            line=first.line,
            fix=first.fix,
            path=pipeline.notebook_path,
            diagnostics=errors,
        )


def load_checked(
    notebook: Any,
    *,
    run_root: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Pipeline:
    """The pipeline of ``notebook``, refused (:class:`AnalysisError`) if it has an error.

    ``notebook`` is a path, a notebook (``NotebookNode`` or dict) or an already built
    :class:`~kale_like.model.Pipeline`; a Pipeline is checked as is, and ``overrides``
    (``pipeline_name``, ``experiment``, ``description``, ``base_image``) replace its fields.
    Otherwise see :func:`load_pipeline` for ``overrides``, ``path`` and ``run_root``.
    """
    if isinstance(notebook, Pipeline):
        fields = {"pipeline_name": "name"}
        given = {fields.get(k, k): v for k, v in overrides.items() if v is not None}
        pipeline = dataclasses.replace(notebook, **given) if given else notebook
    else:
        root = os.fspath(run_root) if run_root is not None else None
        pipeline = load_pipeline(notebook, run_root=root, **overrides)
    check_pipeline(pipeline)
    return pipeline
