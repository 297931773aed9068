"""The pipeline builder: a tagged notebook -> the pipeline IR (:class:`~kale_like.model.Pipeline`).

The functional core of every verb: read and validate the notebook, group cells into steps,
analyse each step's code, infer data edges, order the steps and assemble the IR (``build``),
then add the observed edges of earlier runs (``observed``). Core: it imports ``analysis``,
``graph``, ``notebook``, ``tags``, ``model``, ``compose``, ``errors``, ``diagnostics``,
never ``api``, ``backends``, ``cli`` or ``server``.
"""

from __future__ import annotations

from .load import check_pipeline, load_checked, load_pipeline
from .names import pipeline_name_from, step_name_from

__all__ = [
    "check_pipeline",
    "load_checked",
    "load_pipeline",
    "pipeline_name_from",
    "step_name_from",
]
