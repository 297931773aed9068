"""The ``verify`` verb: both runs, then the comparison (see the package docstring)."""

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
from .mismatches import VerifyReport
from .top_to_bottom import run_top_to_bottom


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
