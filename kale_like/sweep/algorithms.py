"""Search algorithms behind one ask/tell interface: grid, random, and TPE (optuna).

``ask(number)`` proposes the parameters of trial ``number``; ``tell(trial)`` reports how it
went. Grid and random proposals depend only on the trial number (and the seed), so a
resumed or parallel sweep proposes exactly what an uninterrupted serial one would. TPE
learns from told trials; on resume the finished trials are replayed into a new study.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import UsageError, missing_extra
from .results import Trial
from .space import Dimension

# local name -> Katib algorithmName
KATIB_ALGORITHMS: dict[str, str] = {
    "grid": "grid",
    "random": "random",
    "bayesian": "bayesianoptimization",
    "tpe": "tpe",
}
ALGORITHMS = tuple(KATIB_ALGORITHMS)
# Katib/Kale names accepted in notebook metadata -> local name
_ALIASES = {"bayesianoptimization": "bayesian", "bayesian-optimization": "bayesian"}


def normalize(name: str) -> str:
    """An algorithm name (local or Katib spelling) -> the local name, or UsageError."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in KATIB_ALGORITHMS:
        raise UsageError(
            f"unknown algorithm {name!r}; valid algorithms: {', '.join(ALGORITHMS)}",
            kind="unknown-algorithm",
        )
    return key


class Algorithm(Protocol):
    name: str

    def ask(self, number: int) -> dict[str, Any]: ...

    def tell(self, trial: Trial) -> None: ...


class GridSearch:
    """The cartesian product of every dimension's grid, in order (last dimension fastest)."""

    name = "grid"

    def __init__(self, dims: list[Dimension], grid_points: int | None = None) -> None:
        self.dims = dims
        grids = [d.grid(grid_points) for d in dims]
        self.points = [
            dict(zip([d.name for d in dims], combo, strict=True))
            for combo in itertools.product(*grids)
        ]

    def __len__(self) -> int:
        return len(self.points)

    def ask(self, number: int) -> dict[str, Any]:
        return dict(self.points[number])

    def tell(self, trial: Trial) -> None:
        pass


class RandomSearch:
    """Independent draws; trial ``n`` uses its own RNG seeded from (seed, n)."""

    name = "random"

    def __init__(self, dims: list[Dimension], seed: int) -> None:
        self.dims = dims
        self.seed = seed

    def ask(self, number: int) -> dict[str, Any]:
        rng = random.Random(f"kale-like:{self.seed}:{number}")
        return {d.name: d.sample(rng) for d in self.dims}

    def tell(self, trial: Trial) -> None:
        pass


class OptunaSearch:
    """Tree-structured Parzen estimator (optuna's TPESampler), for ``bayesian`` and ``tpe``."""

    def __init__(self, dims: list[Dimension], seed: int, direction: str, name: str = "tpe") -> None:
        try:
            import optuna
        except ImportError:
            raise missing_extra("optuna", "sweep", f"the {name} sweep algorithm") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.name = name
        self._optuna = optuna
        self.dims = dims
        self.distributions = {d.name: _distribution(optuna, d) for d in dims}
        way: Any = direction  # "maximize" | "minimize", checked by the API
        self.study = optuna.create_study(
            direction=way, sampler=optuna.samplers.TPESampler(seed=seed)
        )
        self._pending: dict[int, Any] = {}

    def ask(self, number: int) -> dict[str, Any]:
        ot = self.study.ask(self.distributions)
        self._pending[number] = ot
        return {d.name: d._typed(ot.params[d.name]) for d in self.dims}

    def tell(self, trial: Trial) -> None:
        ot = self._pending.pop(trial.number, None)
        state = self._optuna.trial.TrialState
        if ot is None:  # a trial from before a resume: replay it into the study
            if not trial.ok:
                return
            params = {d.name: trial.parameters[d.name] for d in self.dims}
            try:
                frozen = self._optuna.trial.create_trial(
                    params=params, distributions=self.distributions, value=trial.objective
                )
            except ValueError:  # value outside the (changed) space: nothing to learn from
                return
            self.study.add_trial(frozen)
            return
        if trial.ok:
            self.study.tell(ot, trial.objective)
        else:
            self.study.tell(ot, state=state.FAIL)


def _distribution(optuna: Any, d: Dimension) -> Any:
    dist = optuna.distributions
    if d.kind == "choice":
        return dist.CategoricalDistribution(list(d.values))
    if d.kind == "int":
        return dist.IntDistribution(int(d.low), int(d.high))  # type: ignore[arg-type]
    if d.kind == "range":
        grid = d.grid()
        if d.type == "int":
            return dist.IntDistribution(grid[0], grid[-1], step=int(d.step))  # type: ignore[arg-type]
        # optuna needs (high - low) to be a multiple of step; the grid's last point is.
        return dist.CategoricalDistribution(grid)
    low: Any = d.low
    high: Any = d.high
    return dist.FloatDistribution(float(low), float(high), log=d.kind == "loguniform")


def make_algorithm(
    name: str,
    dims: list[Dimension],
    *,
    seed: int,
    direction: str,
    grid_points: int | None = None,
) -> Algorithm:
    """The algorithm ``name`` (see :data:`ALGORITHMS`) over ``dims``."""
    factories: dict[str, Callable[[], Algorithm]] = {
        "grid": lambda: GridSearch(dims, grid_points),
        "random": lambda: RandomSearch(dims, seed),
        "bayesian": lambda: OptunaSearch(dims, seed, direction, "bayesian"),
        "tpe": lambda: OptunaSearch(dims, seed, direction, "tpe"),
    }
    return factories[normalize(name)]()
