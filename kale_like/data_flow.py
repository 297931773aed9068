"""The last-writer data flow over steps in notebook order: which step feeds each read.

Pure: from the per-step facts of :mod:`kale_like.analysis` to :class:`Flow` (inputs,
state inputs, parameters read, read locations) and warnings for names read but never
(or only later, or no longer) defined.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .analysis.walker import BlockFacts
from .diagnostics import Diagnostic

Loc = tuple[int | None, int | None]  # (cell, line) of a read


@dataclass
class Flow:
    """Result of the last-writer data flow over steps in notebook order."""

    inputs: dict[str, dict[str, str]]  # step -> {var: producer}
    state_inputs: dict[str, dict[str, str]]  # step -> {kind: producer} (from reads)
    parameters: dict[str, list[str]]
    locations: dict[tuple[str, str], Loc]  # (step, var) -> read loc
    diagnostics: list[Diagnostic]


def data_flow(
    steps: list[str],
    facts: Mapping[str, BlockFacts],
    parameters: Iterable[str],
    prelude_names: Iterable[str],
    builtins: Iterable[str],
    star_import: bool,
    final_reads: Iterable[str] = (),
) -> Flow:
    """Data edge A->B for v: B reads v and A is the last step before B (notebook order)
    that writes it. Parameters and prelude names have no producer step. ``final_reads``
    (the metrics) are read after the last step."""
    params = list(dict.fromkeys(parameters))
    known = set(params), set(prelude_names), set(builtins)
    flow = _Resolver(steps, facts, known, star_import)
    state_hist: dict[str, list[int]] = {}
    for i, s in enumerate(steps):
        for k in facts[s].state_writes:
            state_hist.setdefault(k, []).append(i)
    state_in: dict[str, dict[str, str]] = {}
    for i, s in enumerate(steps):
        f = facts[s]
        flow.inputs[s] = {}
        for v, loc in f.reads.items():
            flow.resolve(i, v, loc, False)
        for v, loc in f.soft_reads.items():
            if v not in f.reads:
                flow.resolve(i, v, loc, True)
        st: dict[str, str] = {}
        for kind in f.state_reads:
            idx = state_hist.get(kind, [])
            pos = bisect.bisect_left(idx, i) - 1
            if pos >= 0:
                st[kind] = steps[idx[pos]]
        state_in[s] = st
    flow.weak_writers(final_reads)
    used_params = {s: [p for p in params if p in flow.params_read[s]] for s in steps}
    return Flow(flow.inputs, state_in, used_params, flow.locs, flow.diags)


class _Resolver:
    """Finds the producer of each read, step by step; collects inputs and warnings."""

    def __init__(
        self,
        steps: list[str],
        facts: Mapping[str, BlockFacts],
        known: tuple[set[str], set[str], set[str]],  # parameters, prelude names, builtins
        star_import: bool,
    ) -> None:
        self.steps, self.facts, self.star_import = steps, facts, star_import
        self.param_set, self.prelude, self.builtin = known
        # var -> ([step index], [status]); status: "w" write, "weak" alias write, "del"
        self.history: dict[str, tuple[list[int], list[str]]] = {}
        for i, s in enumerate(steps):
            f = facts[s]
            for group, status in ((f.writes, "w"), (f.weak_writes, "weak"), (f.deleted, "del")):
                for v in group:
                    idx, sts = self.history.setdefault(v, ([], []))
                    idx.append(i)
                    sts.append(status)
        self.inputs: dict[str, dict[str, str]] = {}
        self.locs: dict[tuple[str, str], Loc] = {}
        self.diags: list[Diagnostic] = []
        self.params_read: dict[str, set[str]] = {s: set() for s in steps}

    def last(self, v: str, before: int) -> tuple[int, str] | None:
        """The last (step index, status) touching ``v`` above step ``before``."""
        idx, sts = self.history.get(v, ([], []))
        pos = bisect.bisect_left(idx, before) - 1
        return (idx[pos], sts[pos]) if pos >= 0 else None

    def resolve(self, i: int, v: str, loc: Loc, soft: bool) -> None:
        """Step ``i`` reads ``v``: take it from the last writer, or say why none can give it
        (``soft`` reads, which may be satisfied otherwise, are never warned about)."""
        s = self.steps[i]
        hit = self.last(v, i)
        if hit is not None:
            j, status = hit
            if status != "del":
                self.inputs[s][v] = self.steps[j]
                self.locs[(s, v)] = loc
            elif not soft:
                why = f"reads {v!r}, which step {self.steps[j]!r} deleted"
                self._warn(s, why, loc, f"stop deleting {v!r} or redefine it first")
            return
        if v in self.param_set:
            self.params_read[s].add(v)
        elif not (v in self.prelude or v in self.builtin or self.star_import or soft):
            idx, sts = self.history.get(v, ([], []))
            later = [self.steps[j] for j, st in zip(idx, sts, strict=True) if st == "w" and j > i]
            why = f"only defined later, in step {later[0]!r}" if later else "never defined"
            self._warn(s, f"reads {v!r}, {why}", loc, "define it in this step or a step above")

    def _warn(self, step: str, what: str, loc: Loc, fix: str) -> None:
        self.diags.append(
            Diagnostic(
                "warning", "undefined-name", f"step {step!r} {what}", loc[0], loc[1], fix, step
            )
        )

    def weak_writers(self, final_reads: Iterable[str]) -> None:
        """A weak (alias) writer that a later step, or the metrics, take the value from must
        load the value itself; later steps first, so chains of weak writers resolve."""
        steps, end = self.steps, len(self.steps)
        final = {v for v in final_reads if self.last(v, end) is not None}
        # (var, producer) of every input: a producer only feeds steps below it, so "a later
        # step takes v from s" is one lookup; inputs added below are recorded as they come.
        fed = {(v, p) for s in steps for v, p in self.inputs[s].items()}
        for i in range(end - 1, -1, -1):
            s = steps[i]
            inputs = self.inputs[s]
            for v, loc in self.facts[s].weak_writes.items():
                consumed = (v in final and self.last(v, end) == (i, "weak")) or (v, s) in fed
                if consumed and v not in inputs:
                    self.resolve(i, v, loc, True)
                    if v in inputs:
                        fed.add((v, inputs[v]))
