"""``verify``: run a notebook top to bottom and as a pipeline, and prove both agree.

The top-to-bottom run is papermill over a temporary copy of the notebook (``skip`` cells
removed, the same parameters), with small cells injected before each step's first cell and
after its last one that save the variables the step receives and passes on (with the same
marshal registry the runtime uses) and its metrics. The pipeline run goes through
:func:`kale_like.api.execution.run`. Then every variable passed between steps is compared
(:mod:`.compare`); the first divergence is reported with its likely cause. The user's
notebook is never modified.

This module is the thin verb; :mod:`.compare`, :mod:`.top_to_bottom`, :mod:`.composed` and
:mod:`.report` know nothing of the verbs or the engines.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import params
from ..api.execution import prepare, run
from .compare import compare, seeded
from .composed import flatten
from .mismatches import Mismatch, VerifyReport
from .top_to_bottom import run_top_to_bottom, top_to_bottom_notebook

__all__ = ["Mismatch", "VerifyReport", "top_to_bottom_notebook", "verify"]


def verify(
    notebook: str | os.PathLike[str],
    *,
    parameters: dict[str, Any] | None = None,
    run_root: str | os.PathLike[str] | None = None,
    **run_kwargs: Any,
) -> VerifyReport:
    """Run ``notebook`` top to bottom and as a pipeline with ``parameters``; compare them."""
    path = Path(notebook).absolute()
    pipeline = prepare(path)
    values = params.resolve(pipeline, parameters or {})
    work = Path(tempfile.mkdtemp(prefix="kale-like-verify-"))
    try:
        with seeded():
            result = run(path, parameters=parameters, run_root=run_root, **run_kwargs)
        raw, origin = None, None
        if pipeline.notebooks:  # a composition: its flattened notebook is the ground truth
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
            pipeline, raw, origin = flatten(pipeline, meta)
        dump_dir, tb_cell, tb_exc = run_top_to_bottom(path, pipeline, values, work, raw)
        return compare(path, pipeline, result, dump_dir, tb_cell, tb_exc, work, origin)
    finally:
        shutil.rmtree(work, ignore_errors=True)
