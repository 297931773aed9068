"""Observed global state: which RNG states a step drew from or changed (issue 11).

Libraries draw from the process-wide RNGs where the analysis cannot see it
(``train_test_split(x, y)``, ``RandomForestClassifier().fit`` without ``random_state``,
``df.sample()``). :class:`StateWatch` digests each RNG kind when the step's cells start
(after carried state and the verify seed are applied), after every cell, and at the end:

- the step *changed* kind K when its digest differs at the end;
- it *drew* from K (its result depends on the state it started with) unless its first
  change of K was a re-seed: the seeding functions (``random.seed``, ``np.random.seed``,
  ``torch.manual_seed``, their ``set_state`` siblings) are wrapped while the cells run and
  tell whether anything drew before them.

Each changed kind becomes a *state fact* (``StepOutcome.state_observed``). The local engine
re-plans on them (``backends/local/replan.py``); under KFP engines (no ``observe_dir``) a
step fails when the spec says the fact makes the run differ from top to bottom
(:func:`check`). Digests are a hash of a few KB (the MT19937 key, torch's 5 KB state).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

from ..errors import cell_label

# The kinds observed and acted on: their reads cannot be seen, but a draw changes them.
RNG_KINDS: tuple[str, ...] = ("random", "numpy.random", "torch.random")

# Kinds a fresh process seeds from OS entropy (torch's global generator starts from a fixed
# seed instead, so its draws are repeatable without any seed call).
ENTROPY_STARTED: frozenset[str] = frozenset({"random", "numpy.random"})


def state_seeded_by_run() -> bool:
    """verify's pipeline run seeds every step's RNGs (``runtime.state.seed_from_env``)."""
    from .state import SEED_ENV

    return os.environ.get(SEED_ENV, "").isdigit()


# (module, attribute) of the functions that reset a kind without reading it.
_SEEDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "random": (("random", "seed"), ("random", "setstate")),
    "numpy.random": (("numpy.random", "seed"), ("numpy.random", "set_state")),
    "torch.random": (
        ("torch", "manual_seed"),
        ("torch", "set_rng_state"),
        ("torch.random", "manual_seed"),
        ("torch.random", "set_rng_state"),
    ),
}

# What a user adds to a cell so the analysis sees the step read and change a kind.
TOUCH_LINE: dict[str, str] = {
    "random": "random.setstate(random.getstate())",
    "numpy.random": "np.random.set_state(np.random.get_state())",
    "torch.random": "torch.set_rng_state(torch.get_rng_state())",
}
_KEEP_HINT: dict[str, str] = {
    "random": "draw from an own `random.Random(seed)`",
    "numpy.random": "pass `random_state=` to the library call, or draw from an own "
    "`np.random.default_rng(seed)`",
    "torch.random": "draw with an own `torch.Generator()`",
}
_SEED_HINT: dict[str, str] = {
    "random": "`random.seed(...)`",
    "numpy.random": "`np.random.seed(...)`, or pass `random_state=` to the library call",
    "torch.random": "`torch.manual_seed(...)`",
}


def kind_digest(kind: str) -> str | None:
    """Digest of one RNG kind now; None when its library is not imported."""
    if kind == "random":
        import random

        return hashlib.sha1(pickle.dumps(random.getstate(), 4)).hexdigest()
    if kind == "numpy.random":
        np = sys.modules.get("numpy")
        if np is None:
            return None
        name, key, pos, has_gauss, gauss = np.random.get_state()
        h = hashlib.sha1(key.tobytes())
        h.update(repr((name, int(pos), int(has_gauss), float(gauss))).encode())
        return h.hexdigest()
    if kind == "torch.random":
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        return hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()
    raise ValueError(f"unknown RNG kind {kind!r}; valid kinds: {', '.join(RNG_KINDS)}")


def _fresh_torch_digest() -> str | None:
    """torch's global generator as a fresh import leaves it (a fixed default seed)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return hashlib.sha1(torch.Generator().get_state().numpy().tobytes()).hexdigest()


@dataclass
class StateFact:
    """Step changed ``kind``; ``drew``: its result depends on the state it started with."""

    kind: str
    drew: bool
    first_cell: int | None  # the first cell that changed it
    cell: int | None  # the last cell that changed it
    declared: bool  # the analysis saw the step change it (Step.state_outputs)
    received: bool  # the step received it (Step.state_inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "drew": self.drew,
            "first_cell": self.first_cell,
            "cell": self.cell,
            "declared": self.declared,
            "received": self.received,
        }


@dataclass
class StateWatch:
    """Digests per RNG kind around the step's cells, and the seed-function wrappers."""

    spec: dict[str, Any]
    start: dict[str, str | None] = field(default_factory=dict)
    last: dict[str, str | None] = field(default_factory=dict)
    first_cell: dict[str, int] = field(default_factory=dict)
    last_cell: dict[str, int] = field(default_factory=dict)
    reset_first: dict[str, bool] = field(default_factory=dict)  # first change was a seed
    seeded: set[str] = field(default_factory=set)  # kinds a seeding function set in the step
    _patched: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    _rebound: list[tuple[str, Any, Any]] = field(default_factory=list)

    def begin(self, ns: dict[str, Any]) -> None:
        """Right before the step's first cell: digests, then the seed wrappers."""
        self.start = {k: kind_digest(k) for k in RNG_KINDS}
        self.last = dict(self.start)
        self._install(ns)

    def _install(self, ns: dict[str, Any]) -> None:
        for kind, seeders in _SEEDERS.items():
            for module, attr in seeders:
                mod = sys.modules.get(module)
                orig = getattr(mod, attr, None) if mod is not None else None
                if orig is None:
                    continue
                wrapper = self._wrap(kind, orig)
                setattr(mod, attr, wrapper)
                self._patched.append((mod, attr, orig, wrapper))
                # `from numpy.random import seed` in the prelude bound the original.
                for name, value in list(ns.items()):
                    if value is orig:
                        ns[name] = wrapper
                        self._rebound.append((name, orig, wrapper))

    def _wrap(self, kind: str, orig: Any) -> Any:
        @functools.wraps(orig)
        def seeding(*args: Any, **kwargs: Any) -> Any:
            if kind not in self.reset_first:
                # Nothing drew since the step started: what follows does not depend on it.
                self.reset_first[kind] = kind_digest(kind) == self.start.get(kind)
            self.seeded.add(kind)
            return orig(*args, **kwargs)

        return seeding

    def after_cell(self, index: int) -> None:
        for kind in RNG_KINDS:
            now = kind_digest(kind)
            if now != self.last.get(kind):
                if self.start.get(kind) is not None or kind == "torch.random":
                    self.first_cell.setdefault(kind, index)
                    self.last_cell[kind] = index
                self.last[kind] = now
            if kind not in self.reset_first and now != self.start.get(kind):
                self.reset_first[kind] = False  # changed by a draw (no seed call before)

    def end(self, ns: dict[str, Any]) -> list[StateFact]:
        """Remove the wrappers; the kinds the step changed."""
        for mod, attr, orig, wrapper in reversed(self._patched):
            if getattr(mod, attr, None) is wrapper:
                setattr(mod, attr, orig)
        for name, orig, wrapper in self._rebound:
            if ns.get(name) is wrapper:
                ns[name] = orig
        self._patched.clear()
        self._rebound.clear()
        state = self.spec.get("state") or {}
        declared = set(state.get("outputs") or self.spec.get("state_outputs") or ())
        received = set(self.spec.get("state_inputs") or ())
        facts: list[StateFact] = []
        earlier = state.get("earlier") or {}
        run_seeded = state_seeded_by_run()
        for kind in RNG_KINDS:
            before, after = self.start.get(kind), kind_digest(kind)
            if (
                kind in ENTROPY_STARTED
                and kind not in received
                and kind not in earlier
                and kind not in self.seeded
                and not run_seeded
            ):
                # The step started from the fresh process' entropy (nothing seeded it, passed it
                # in, or changed it earlier) and set no seed: its end state is as unrepeatable
                # top to bottom, so there is nothing to pass on (e.g. a library drawing from
                # `random` when imported).
                continue
            if before is None and kind == "torch.random":
                before = _fresh_torch_digest()  # imported by the step itself
            if before is None or after is None or before == after:
                continue
            facts.append(
                StateFact(
                    kind=kind,
                    drew=not self.reset_first.get(kind, False),
                    first_cell=self.first_cell.get(kind),
                    cell=self.last_cell.get(kind),
                    declared=kind in declared,
                    received=kind in received,
                )
            )
        return facts


def _at(cell: int | None) -> str:
    return f" ({cell_label(cell)})" if cell is not None else ""


def check(step: str, facts: list[StateFact], spec: dict[str, Any], last_cell: int | None) -> None:
    """KFP-based engines: fail when a fact makes this run differ from top to bottom.

    ``spec["state"]`` (runtime/spec.py) names, per kind, the latest earlier step the analysis
    sees change it (``earlier``: a drawer without an input should have continued from it)
    and the later steps that would continue from this step's change (``later``)."""
    from .failure import StepFailed

    state = spec.get("state") or {}
    earlier: dict[str, str] = state.get("earlier") or {}
    later: dict[str, list[str]] = state.get("later") or {}
    first = spec["cells"][0]["index"] if spec.get("cells") else None
    for f in facts:
        if f.drew and not f.received and f.kind in earlier:
            writer = earlier[f.kind]
            raise StepFailed(
                f"step {step} draws from {f.kind} state{_at(f.first_cell)} although the "
                f"analysis did not see it; {writer} changes it before (top to bottom {step} "
                f"continues from {writer}'s state), and a pipeline already submitted cannot "
                "be re-planned to pass it on",
                step=step,
                cell=f.first_cell,
                variable=f.kind,
                kind="undeclared-state-read",
                fix=fix_for_reader(f.kind, step, first),
                summary=f"undeclared draw from {f.kind} state",
            )
        if not f.declared and later.get(f.kind):
            readers = later[f.kind]
            raise StepFailed(
                f"step {step} changed {f.kind} state{_at(f.cell)} although the analysis did "
                f"not see it; {', '.join(readers)} would continue from it top to bottom, and a "
                "pipeline already submitted cannot be re-planned to pass it on",
                step=step,
                cell=f.cell,
                variable=f.kind,
                kind="undeclared-state-write",
                fix=fix_for_writer(f.kind, step, f.cell if f.cell is not None else last_cell),
                summary=f"undeclared change of {f.kind} state",
            )


def fix_for_reader(kind: str, step: str, first_cell: int | None) -> str:
    """Make the step independent of its start state, or make the analysis carry it."""
    return (
        f"seed it in step {step} itself before it draws ({_SEED_HINT[kind]}); or add the line "
        f"`{TOUCH_LINE[kind]}` at the top of the step's first cell{_at(first_cell)}, so the "
        "analysis sees the step read that state and passes it on; or run with the local "
        "engine, which re-plans"
    )


def fix_for_writer(kind: str, step: str, cell: int | None) -> str:
    """Keep the global state unchanged, or make the analysis see the change."""
    where = cell_label(cell) if cell is not None else "the step's last cell"
    return (
        f"leave the global state alone ({_KEEP_HINT[kind]}); or "
        f"add the line `{TOUCH_LINE[kind]}` at the end of {where} of step {step}, so the "
        "analysis sees the change and passes the state on; or run with the local engine, "
        "which re-plans"
    )
