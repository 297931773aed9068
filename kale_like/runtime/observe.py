"""Write detection: what a step actually changed, compared with what the analysis declared.

Before the step's cells run, :class:`Observer` notes the identity of every user name and the
digest (:mod:`.digest`) of every value the step *received* (inputs, members of their share
groups that the step did not load, parameters) or that the prelude (imports/functions cells)
*created*. After each cell it compares identities (cheap: which cell bound a name); after the
last one, digests. A name bound, rebound, deleted, or a received value whose digest changed,
that the analysis did not list among the step's writes is an *undeclared write*.

The spec says, per variable, which later steps would read it from this step had the
analysis seen the write (``later``). Those writes are acted on: the local engine gives a
directory where the runtime saves them (and re-plans); every other engine fails the step
with the variable, the cell and a fix. ``KALE_LIKE_OBSERVE=0`` turns detection off.

A changed prelude object (a decorator's counter, a closure cell, a registry on a function)
cannot travel as a value: the consumer replays the prelude, and other prelude objects refer
to its own copy. It travels as a :class:`~.observe_prelude.PreludePatch` of the changed parts,
applied in place (:mod:`.observe_prelude`).
"""

from __future__ import annotations

import os
import re
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import cell_label
from .digest import digest, parts

# Kept importable here: values saved before the patches had their own module were pickled
# as kale_like.runtime.observe.PreludePatch.
from .observe_prelude import PreludePatch as PreludePatch
from .observe_prelude import make_patch

ENV_SWITCH = "KALE_LIKE_OBSERVE"
# IPython's own names (output history, `!` exit codes) are not user variables.
_IPYTHON = re.compile(r"^(_+|_i+|_i?\d+|_oh|_ih|_dh|_exit_code|In|Out|exit|quit|get_ipython)$")
_PER_CELL_BUDGET = 0.02  # seconds of re-digesting per cell worth an exact cell attribution
# A low estimate of hashing speed: what digesting a known (not yet hashed) value will cost.
_HASH_BYTES_PER_SECOND = 2e9

DigestFn = Callable[[Any], str | None]


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def user_name(name: str) -> bool:
    return not (name.startswith("__") and name.endswith("__")) and not _IPYTHON.match(name)


@dataclass
class Write:
    """One observed write: ``how`` is bound, rebound, deleted or changed."""

    variable: str
    how: str
    cell: int | None
    later: list[str] = field(default_factory=list)  # steps that read it after this one
    prelude: bool = False  # a prelude object changed in place (travels as a patch)
    saved: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "how": self.how,
            "cell": self.cell,
            "later": self.later,
            "prelude": self.prelude,
            "saved": self.saved,
        }


class Observer:
    """Snapshots before the step's cells, per-cell bindings, and the comparison at the end."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.declared = set(spec.get("writes") or ())
        self.later: dict[str, list[str]] = dict(spec.get("later") or {})
        self.cells = [c["index"] for c in spec.get("cells", [])]
        self.ids: dict[str, int] = {}
        self.digests: dict[str, str] = {}
        self.digest_fns: dict[str, DigestFn] = {}  # names digested as their saver did
        self.prelude_parts: dict[str, dict[str, str]] = {}
        self.prelude_ids: dict[str, int] = {}
        self.fresh_parts: dict[str, dict[str, str]] = {}
        self.sources = {c["index"]: c["source"] for c in spec.get("cells", [])}
        self.bound_in: dict[str, int] = {}  # name -> last cell that (re)bound or deleted it
        self.changed_in: dict[str, int] = {}
        self.per_cell = False
        self.seconds = 0.0

    def prelude_done(self, ns: dict[str, Any], created: set[str]) -> None:
        """Right after the prelude replay: remember the objects it created."""
        for name in created:
            if name in ns and user_name(name):
                value = ns[name]
                if isinstance(value, (types.ModuleType, types.BuiltinFunctionType)):
                    continue
                self.prelude_ids[name] = id(value)
                # As every consumer's replay leaves it: a patch carries what differs.
                self.fresh_parts[name] = parts(value)

    def start(
        self,
        ns: dict[str, Any],
        received: dict[str, Any],
        known: dict[str, tuple[DigestFn, str]] | None = None,
    ) -> None:
        """Before the first step cell. ``received``: loaded inputs, siblings, parameters.

        ``known``: received values whose digest was saved with them (artifacts.load_inputs),
        with the function that digests them the same way; they are not hashed here.
        """
        t0 = time.perf_counter()
        self.ids = {k: id(v) for k, v in ns.items() if user_name(k)}
        self.received = received
        known = known or {}
        memo: dict[tuple[int, Any], str] = {}
        expected = 0.0  # seconds the known values will cost to digest after a cell
        for name, value in received.items():
            if name in self.declared:  # a declared write needs no proof
                continue
            if name in known:
                self.digest_fns[name], self.digests[name] = known[name]
                expected += getattr(value, "nbytes", 0) / _HASH_BYTES_PER_SECOND
                memo[(id(value), self.digest_fns[name])] = self.digests[name]
            else:
                self.digests[name] = self._digest(name, value, memo)
        for name, oid in self.prelude_ids.items():
            value = ns.get(name)
            if value is not None and id(value) == oid and name not in received:
                if isinstance(value, (types.ModuleType, types.BuiltinFunctionType)):
                    continue
                self.prelude_parts[name] = parts(value)
        spent = time.perf_counter() - t0
        self.per_cell = (spent + expected) * max(1, len(self.cells) - 1) < _PER_CELL_BUDGET
        self._last_ids = dict(self.ids)
        self._last_digests = {
            **self.digests,
            **{k: _join(v) for k, v in self.prelude_parts.items()},
        }
        self.seconds += spent

    def after_cell(self, index: int, ns: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        now = {k: id(v) for k, v in ns.items() if user_name(k)}
        for name in set(now) | set(self._last_ids):
            if now.get(name) != self._last_ids.get(name):
                self.bound_in[name] = index
        self._last_ids = now
        if self.per_cell:
            memo: dict[tuple[int, Any], str] = {}
            for name, old in list(self._last_digests.items()):
                value = self._value(name, ns)
                if value is _MISSING:
                    continue
                if name in self.prelude_parts:
                    new = _join(parts(value))
                else:
                    new = self._digest(name, value, memo)
                if new != old:
                    self.changed_in[name] = index
                    self._last_digests[name] = new
        self.seconds += time.perf_counter() - t0

    def _digest(self, name: str, value: Any, memo: dict[tuple[int, Any], str]) -> str:
        """``value``'s digest as ``name``'s was taken; one value under two names (aliases,
        group members) is hashed once per pass."""
        fn = self.digest_fns.get(name)
        key = (id(value), fn)
        if key not in memo:
            if fn is None:
                memo[key] = digest(value)
            else:
                # None: the saver's digest cannot be reproduced any more: a change.
                memo[key] = fn(value) or f"unreproducible:{id(value)}"
        return memo[key]

    def _value(self, name: str, ns: dict[str, Any]) -> Any:
        if name in self.received and name not in self.ids:  # a sibling the step never saw
            return self.received[name]
        return ns.get(name, _MISSING)

    def finish(self, ns: dict[str, Any]) -> list[Write]:
        """Every undeclared write, in cell order."""
        t0 = time.perf_counter()
        writes: list[Write] = []
        now = {k: id(v) for k, v in ns.items() if user_name(k)}
        seen: set[str] = set()
        for name in sorted(set(now) | set(self.ids)):
            before, after = self.ids.get(name), now.get(name)
            if before == after:
                continue
            how = "bound" if before is None else "deleted" if after is None else "rebound"
            seen.add(name)
            if name not in self.declared:
                writes.append(Write(name, how, self.bound_in.get(name)))
        self.changed_parts: dict[str, set[str]] = {}
        memo: dict[tuple[int, Any], str] = {}
        for name, old in self.digests.items():
            if name in seen:
                continue
            value = self._value(name, ns)
            if value is _MISSING or (name in self.ids and now.get(name) != self.ids[name]):
                continue
            if name not in self.declared and self._digest(name, value, memo) != old:
                writes.append(Write(name, "changed", self._cell_of(name)))
        for name, old_parts in self.prelude_parts.items():
            if name in seen or name in self.declared:
                continue
            value = ns.get(name, _MISSING)
            if value is _MISSING:
                continue
            new_parts = parts(value)
            changed = {k for k, v in new_parts.items() if old_parts.get(k) != v}
            if changed:
                fresh = self.fresh_parts.get(name, {})
                self.changed_parts[name] = {k for k, v in new_parts.items() if fresh.get(k) != v}
                writes.append(Write(name, "changed", self._cell_of(name), prelude=True))
        for w in writes:
            w.later = list(self.later.get(w.variable, ()))
        writes.sort(key=lambda w: (w.cell if w.cell is not None else 1 << 30, w.variable))
        self.seconds += time.perf_counter() - t0
        return writes

    def _cell_of(self, name: str) -> int | None:
        """The cell that changed ``name``: measured per cell when cheap, else the last cell
        that mentions it."""
        if name in self.changed_in:
            return self.changed_in[name]
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        hits = [i for i in self.cells if pattern.search(self.sources.get(i, ""))]
        return hits[-1] if hits else (self.cells[-1] if self.cells else None)

    def value_to_save(self, write: Write, ns: dict[str, Any]) -> Any:
        """What a consumer of ``write`` must receive: the value, or a prelude patch."""
        if write.prelude:
            return make_patch(
                write.variable, ns[write.variable], self.changed_parts.get(write.variable)
            )
        value = self._value(write.variable, ns)
        return value


class _Missing:
    pass


_MISSING: Any = _Missing()


def _join(d: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(d.items()))


def message(step: str, write: Write, consumers: list[str]) -> str:
    """ "step draw_a changed `rng` (cell 5) although the analysis did not see it"."""
    verb = {"bound": "bound", "rebound": "rebound", "deleted": "deleted"}.get(write.how, "changed")
    where = f" ({cell_label(write.cell)})" if write.cell is not None else ""
    text = f"step {step} {verb} `{write.variable}`{where} although the analysis did not see it"
    if consumers:
        text += f"; {', '.join(consumers)} {'reads' if len(consumers) == 1 else 'read'} it"
    return text


def fix_for(write: Write, last_cell: int | None) -> str:
    """A fix that makes the analysis see the write (so every engine passes the value on)."""
    v = write.variable
    if write.how == "deleted":
        return f"delete `{v}` with a plain `del {v}` statement the analysis can see"
    cell = f" ({cell_label(last_cell)})" if last_cell is not None else ""
    return (
        f"add the line `{v} = {v}` at the end of the step's last cell{cell}, so the analysis "
        f"sees the write and passes `{v}` on; or run with the local engine, which re-plans"
    )


def conclude(
    obs: Observer, step: str, ns: dict[str, Any], observe_dir: str | None
) -> tuple[list[Write], dict[str, Any], list[str]]:
    """After the cells: the undeclared writes, the values later steps need from them, and
    the names to record as absent (deleted). Without ``observe_dir`` (KFP-based engines: a
    submitted DAG cannot be re-planned) a write a later step reads fails the step."""
    from .failure import StepFailed

    writes = obs.finish(ns)
    needed = [w for w in writes if w.later]
    if needed and observe_dir is None:
        w = needed[0]
        others = "".join(f"; also `{o.variable}`" for o in needed[1:])
        raise StepFailed(
            message(step, w, w.later)
            + ", and a pipeline already submitted cannot be re-planned to pass it on"
            + others,
            step=step,
            cell=w.cell,
            variable=w.variable,
            kind="undeclared-write",
            fix=fix_for(w, obs.cells[-1] if obs.cells else None),
            summary=f"undeclared write of `{w.variable}`",
        )
    values: dict[str, Any] = {}
    absent: list[str] = []
    for w in needed:
        if w.how == "deleted":
            absent.append(w.variable)
        else:
            values[w.variable] = obs.value_to_save(w, ns)
        w.saved = True
    return writes, values, absent


def declared_prelude_output(obs: Observer | None, name: str, value: Any) -> Any:
    """A declared output that is a prelude function/class itself (``f = f``) travels as a
    patch of its state: pickled by reference it would arrive as the consumer's fresh replay."""
    if obs is None or obs.prelude_ids.get(name) != id(value):
        return value
    if isinstance(value, (types.FunctionType, type)):
        fresh = obs.fresh_parts.get(name, {})
        changed = {k for k, v in parts(value).items() if fresh.get(k) != v}
        return make_patch(name, value, changed)
    return value
