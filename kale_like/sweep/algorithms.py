"""Search algorithms behind one ask/tell interface: grid, random, and TPE (optuna).

``ask(number)`` proposes the parameters of trial ``number``; ``tell(trial)`` reports how it
went. Grid and random proposals depend only on the trial number (and the seed), so a
resumed or parallel sweep proposes exactly what an uninterrupted serial one would. TPE
learns from told trials; on resume the finished trials are replayed into a new study.

Algorithms live in a registry seeded with the built-ins, then entry points of the group
``kale_like.sweep_algorithms`` (``name = "package.module:factory"``, where
``factory(dims, *, seed, direction, grid_points) -> Algorithm`` and an optional attribute
``factory.katib_algorithm`` names the Katib algorithm it corresponds to), or
:func:`register`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import UsageError, missing_extra
from ..registry import Registry
from .space import Dimension
from .trials import Trial

ENTRY_POINT_GROUP = "kale_like.sweep_algorithms"
# built-in local name -> Katib algorithmName
KATIB_ALGORITHMS: dict[str, str] = {
    "grid": "grid",
    "random": "random",
    "bayesian": "bayesianoptimization",
    "tpe": "tpe",
}
ALGORITHMS = tuple(KATIB_ALGORITHMS)
# Katib/Kale names accepted in notebook metadata -> local name
_ALIASES = {"bayesianoptimization": "bayesian", "bayesian-optimization": "bayesian"}


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Any]
    katib: str | None


def _fold(name: str) -> str:
    return str(name).strip().lower()


algorithm_registry: Registry[_Entry | Callable[..., Any]] = Registry(
    "algorithm",
    group=ENTRY_POINT_GROUP,
    unknown_kind="unknown-algorithm",
    unavailable_kind="algorithm-unavailable",
    unavailable_fix="install the package it needs, or pick another algorithm: {names}",
    key=_fold,
)


def register(name: str, factory: Callable[..., Any], *, katib: str | None = None) -> None:
    """Add (or replace) an algorithm: ``factory(dims, *, seed, direction, grid_points)``."""
    algorithm_registry.register(name, _Entry(factory, katib))


def _entry(key: str) -> _Entry:
    found = algorithm_registry.get(key)
    if isinstance(found, _Entry):
        return found
    # from an entry point: the factory itself, naming its Katib algorithm in an attribute
    return _Entry(found, getattr(found, "katib_algorithm", None))


def names() -> list[str]:
    return algorithm_registry.names()


def normalize(name: str) -> str:
    """An algorithm name (local or Katib spelling) -> the local name, or UsageError."""
    key = _fold(name)
    key = _ALIASES.get(key, key)
    if key not in algorithm_registry:
        raise algorithm_registry.unknown(name)
    return key


def katib_name(name: str) -> str:
    """The Katib ``algorithmName`` of a local algorithm, or UsageError."""
    key = normalize(name)
    katib = _entry(key).katib
    if not katib:
        raise UsageError(f"algorithm {key!r} has no Katib counterpart", kind="unknown-algorithm")
    return katib


class Algorithm(Protocol):
    name: str

    def ask(self, number: int) -> dict[str, Any]: ...

    def tell(self, trial: Trial) -> None: ...


class GridSearch:
    """The cartesian product of every dimension's grid, in order (last dimension fastest).

    Point ``number`` is computed from its index (mixed radix), so the grid is never built.
    """

    name = "grid"

    def __init__(self, dims: list[Dimension], grid_points: int | None = None) -> None:
        self.dims = dims
        self.grids = [d.grid(grid_points) for d in dims]

    def __len__(self) -> int:
        n = 1
        for g in self.grids:
            n *= len(g)
        return n

    def ask(self, number: int) -> dict[str, Any]:
        point: dict[str, Any] = {}
        for d, g in zip(reversed(self.dims), reversed(self.grids), strict=True):
            number, index = divmod(number, len(g))
            point[d.name] = g[index]
        return {d.name: point[d.name] for d in self.dims}

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
    """The algorithm ``name`` (see :func:`names`) over ``dims``."""
    entry = _entry(normalize(name))
    algo: Algorithm = entry.factory(dims, seed=seed, direction=direction, grid_points=grid_points)
    return algo


register("grid", lambda dims, *, grid_points=None, **_: GridSearch(dims, grid_points), katib="grid")
register("random", lambda dims, *, seed, **_: RandomSearch(dims, seed), katib="random")
register(
    "bayesian",
    lambda dims, *, seed, direction, **_: OptunaSearch(dims, seed, direction, "bayesian"),
    katib="bayesianoptimization",
)
register(
    "tpe",
    lambda dims, *, seed, direction, **_: OptunaSearch(dims, seed, direction, "tpe"),
    katib="tpe",
)
