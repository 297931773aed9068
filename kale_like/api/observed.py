"""``--observe``: run the notebook locally once so the writes the analysis missed are known.

The facts of earlier runs and their store live in the core (:mod:`kale_like.pipeline.observed`,
re-exported here); loading a pipeline turns the facts of its current code into observed
edges (:mod:`kale_like.pipeline.observed_edges`). :func:`observe_pipeline` runs the notebook
first when some step has no facts yet, so ``compile``/``deploy --observe`` see them all.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import cell_label
from ..model import Pipeline
from ..pipeline.observed import (
    OBSERVED_DIR,
    STORE_VERSION,
    Fact,
    covered,
    default_root,
    empty_store,
    facts_for,
    has_facts,
    merge_run,
    read_store,
    record_run,
    step_code,
    store_path,
)
from ..pipeline.observed_edges import apply_facts, with_observed

# The store and the facts are re-exported: callers and tests have always found them here.
__all__ = [
    "OBSERVED_DIR",
    "STORE_VERSION",
    "Fact",
    "apply_facts",
    "collect",
    "covered",
    "default_root",
    "empty_store",
    "facts_for",
    "has_facts",
    "merge_run",
    "observe_pipeline",
    "read_store",
    "record_run",
    "step_code",
    "store_path",
    "with_observed",
]


def observe_pipeline(
    notebook: Any, *, run_root: Any = None, progress: Any = None, **overrides: Any
) -> Pipeline:
    """``--observe``: the pipeline of ``notebook`` (a path or a loaded Pipeline) with the
    facts of its current code, collected by one local run first when a step has none."""
    from ..errors import UsageError
    from ..pipeline import load_pipeline

    if isinstance(notebook, Pipeline):
        pipeline = notebook
    elif isinstance(notebook, (str, os.PathLike)):
        pipeline = load_pipeline(notebook, run_root=run_root, **overrides)
    else:
        pipeline = replace(load_pipeline(notebook, **overrides), notebook_path=None)
    if not pipeline.notebook_path:
        raise UsageError(
            "--observe needs a saved notebook: observed facts are kept per notebook file",
            kind="observe-needs-path",
            fix="save the notebook and pass its path",
        )
    if collect(pipeline, run_root=run_root, progress=progress):
        pipeline = with_observed(pipeline, run_root)
    return pipeline


def collect(pipeline: Pipeline, *, run_root: Any = None, progress: Any = None) -> bool:
    """Run ``pipeline`` locally once if no run observed its current code; True if it ran.

    A failed run raises :class:`RunFailed` naming the step, cell and error: nothing is
    compiled from a notebook that does not run.
    """
    from ..errors import RunFailed
    from .execution import run

    notebook = pipeline.notebook_path or pipeline.name
    if has_facts(pipeline, run_root):
        return False
    # One step at a time, in the IR's order (notebook order among independent steps): a
    # writer finishes before a reader starts, so no reader fails before the re-plan.
    result = run(pipeline, run_root=run_root, progress=progress, jobs=1)
    failed = result.failed_step
    if result.status != "succeeded" or failed is not None:
        name = failed.name if failed is not None else "?"
        where = (
            f", {cell_label(failed.cell)}" if failed is not None and failed.cell is not None else ""
        )
        error = failed.error if failed is not None and failed.error else result.status
        raise RunFailed(
            f"--observe: the local run of {Path(notebook).name} failed at step {name!r}{where}: "
            f"{error}; nothing was compiled",
            kind="observe-run-failed",
            step=name,
            cell=failed.cell if failed is not None else None,
            path=str(notebook),
            fix="fix the step (see `kale-like runs show "
            f"{result.run_id}`), or compile without --observe",
        )
    record_run(pipeline, result.run_dir, run_root, always=True)
    return True
