"""Def-use analysis of notebook code on ``ast`` (magics transformed first); pure.

``analyze_cell(code)`` gives the facts of one cell; the pipeline builder
(:mod:`kale_like.graph`) walks each step's cells as one block with :class:`Walker`.
"""

from __future__ import annotations

from .cells import param_type, parse_metrics, parse_parameters
from .parse import parse_cell, transform
from .rules import BUILTIN_NAMES, PURE_METHODS
from .walker import BlockFacts, FuncFacts, Walker, analyze_cell, function_facts

__all__ = [
    "BUILTIN_NAMES",
    "PURE_METHODS",
    "BlockFacts",
    "FuncFacts",
    "Walker",
    "analyze_cell",
    "function_facts",
    "param_type",
    "parse_cell",
    "parse_metrics",
    "parse_parameters",
    "transform",
]
