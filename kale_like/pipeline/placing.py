"""Where a diagnostic belongs (its step, its notebook) and the order diagnostics are listed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..diagnostics import Diagnostic

__all__ = ["diag_key", "in_notebook", "with_step"]

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def with_step(d: Diagnostic, step: str, notebook: str | None = None) -> Diagnostic:
    """``d`` about step ``step`` (none if empty) of notebook ``notebook`` (None: the main one)."""
    return replace(d, step=step or None, notebook=notebook)


def in_notebook(diags: Iterable[Diagnostic], key: str | None) -> list[Diagnostic]:
    """``diags`` about cells of the referenced notebook ``key`` (None: the main one)."""
    return [d if key is None else replace(d, notebook=key) for d in diags]


def diag_key(d: Diagnostic) -> tuple[Any, ...]:
    """Sort key: the main notebook's first, then by cell, line, severity and kind."""
    where = (d.notebook is not None, d.notebook or "")
    return (*where, d.cell is None, d.cell or 0, d.line or 0, _SEVERITY_RANK[d.severity], d.kind)
