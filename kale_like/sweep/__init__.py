"""Hyperparameter sweeps over a whole pipeline: search spaces, algorithms, local runner, results.

``kale_like.api.sweep`` is the entry point; this package is its functional core.
"""

from __future__ import annotations

from .algorithms import ALGORITHMS, KATIB_ALGORITHMS, make_algorithm, normalize
from .results import SweepEvent, SweepResult, Trial, best_trial
from .space import Dimension, grid_size, parse_space, spec_from_katib

__all__ = [
    "ALGORITHMS",
    "KATIB_ALGORITHMS",
    "Dimension",
    "SweepEvent",
    "SweepResult",
    "Trial",
    "best_trial",
    "grid_size",
    "make_algorithm",
    "normalize",
    "parse_space",
    "spec_from_katib",
]
