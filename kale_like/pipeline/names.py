"""Names taken from a notebook's file stem: the pipeline's, and the step of an untagged one."""

from __future__ import annotations

import re

__all__ = ["pipeline_name_from", "step_name_from"]


def pipeline_name_from(stem: str) -> str:
    """A KFP-friendly pipeline name (lower-case, dashes) from a file stem."""
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return name[:100].strip("-") or "pipeline"


def step_name_from(stem: str) -> str:
    """A valid step name from a file stem, for notebooks without step tags."""
    name = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_").lstrip("0123456789_")
    return name or "main"
