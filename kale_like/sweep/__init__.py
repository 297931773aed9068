"""Hyperparameter sweeps over a whole pipeline: search spaces, algorithms, local runner, results.

``kale_like.api.sweep`` is the entry point; this package is its functional core.
"""

from __future__ import annotations

from .algorithms import (
    ALGORITHMS,
    KATIB_ALGORITHMS,
    katib_name,
    make_algorithm,
    names,
    normalize,
    register,
)
from .space import Dimension, grid_size, parse_space, spec_from_katib
from .trials import SweepEvent, SweepResult, Trial, best_trial

__all__ = [
    "ALGORITHMS",
    "KATIB_ALGORITHMS",
    "Dimension",
    "SweepEvent",
    "SweepResult",
    "Trial",
    "best_trial",
    "grid_size",
    "katib_name",
    "make_algorithm",
    "names",
    "normalize",
    "parse_space",
    "register",
    "spec_from_katib",
]
