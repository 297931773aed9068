"""``analyze``: a tagged notebook -> the pipeline IR as JSON (``kale-like analyze``).

The builder itself is the core package :mod:`kale_like.pipeline`; its loaders are
re-exported here, where callers have always found them.
"""

from __future__ import annotations

from typing import Any

from ..pipeline import (
    check_pipeline,
    load_checked,
    load_pipeline,
    pipeline_name_from,
    step_name_from,
)

__all__ = [
    "analyze",
    "check_pipeline",
    "load_checked",
    "load_pipeline",
    "pipeline_name_from",
    "step_name_from",
]


def analyze(notebook: Any, **overrides: Any) -> dict[str, Any]:
    """The JSON contract of ``kale-like analyze --format json``."""
    return load_pipeline(notebook, **overrides).to_json()
