"""The step graph: cells -> steps, ``prev:`` edges, inferred data edges, topological order.

Pure functions over :class:`~kale_like.notebook.NotebookSource` and the per-step facts of
:mod:`kale_like.analysis`. Errors name what is wrong (the cycle ``a -> b -> a``, the
known steps for an unknown ``prev:``) with the cell and tag at fault.

This module orders the steps and refuses split steps that cannot run; it is also the one
name the rest of the package imports the step graph by, so it re-exports the parts that
live beside it: :mod:`~kale_like.step_layout` (which cell does what, ``prev:`` checks),
:mod:`~kale_like.data_flow` (the last-writer data flow) and :mod:`~kale_like.dag`
(ancestors).
"""

from __future__ import annotations

import bisect
import graphlib
import heapq
from collections.abc import Iterable, Mapping

from .analysis.walker import BlockFacts
from .dag import Ancestors, AncestorSet, ancestors, ancestors_of
from .data_flow import Flow, data_flow
from .diagnostics import Diagnostic
from .errors import AnalysisError, cell_label
from .step_layout import SPECIAL_KINDS, Layout, StepGroup, check_prev, layout

__all__ = [
    "SPECIAL_KINDS",
    "AncestorSet",
    "Ancestors",
    "Flow",
    "Layout",
    "StepGroup",
    "ancestors",
    "ancestors_of",
    "check_prev",
    "check_split_steps",
    "data_flow",
    "layout",
    "topological_order",
]


def topological_order(
    names: list[str],
    preds: Mapping[str, Iterable[str]],
    lay: Layout | None = None,
    path: str | None = None,
) -> list[str]:
    """Topological order, ties broken by notebook order; a cycle raises ``cycle``."""
    sorter = graphlib.TopologicalSorter({n: set(preds.get(n, ())) for n in names})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise _cycle_error(list(exc.args[1]), preds, lay, path) from None
    index = {n: i for i, n in enumerate(names)}
    succs: dict[str, list[str]] = {n: [] for n in names}
    indeg = {n: 0 for n in names}
    for n in names:
        for p in set(preds.get(n, ())):
            succs[p].append(n)
            indeg[n] += 1
    heap = [index[n] for n in names if indeg[n] == 0]
    heapq.heapify(heap)
    out: list[str] = []
    while heap:
        n = names[heapq.heappop(heap)]
        out.append(n)
        for m in succs[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, index[m])
    return out


def _cycle_error(
    cycle: list[str], preds: Mapping[str, Iterable[str]], lay: Layout | None, path: str | None
) -> AnalysisError:
    nodes = cycle[:-1] if len(cycle) > 1 and cycle[0] == cycle[-1] else cycle
    # graphlib lists the cycle in some rotation and direction; orient it along `runs after`.
    if len(nodes) > 1 and nodes[0] not in set(preds.get(nodes[1], ())):
        nodes = nodes[::-1]
    groups = {s.name: s for s in lay.steps} if lay else {}
    if groups:
        start = min(range(len(nodes)), key=lambda i: groups[nodes[i]].position)
        nodes = nodes[start:] + nodes[:start]
    text = " -> ".join([*nodes, nodes[0]])
    # The offending tag: the last-written prev: tag on the cycle.
    culprit: tuple[str, int, str] | None = None
    for a, b in zip(nodes, [*nodes[1:], nodes[0]], strict=False):
        for target, cell, tag in groups[b].prev if b in groups else ():
            if target == a and (culprit is None or cell > culprit[1]):
                culprit = (target, cell, tag)
    return AnalysisError(
        f"the steps form a cycle: {text}",
        kind="cycle",
        cell=culprit[1] if culprit else None,
        tag=culprit[2] if culprit else None,
        path=path,
        fix=f"remove {culprit[2]!r} or reorder the steps" if culprit else "reorder the steps",
    )


def check_split_steps(
    groups: list[StepGroup],
    facts: Mapping[str, BlockFacts],
    inputs: Mapping[str, Mapping[str, str]],
    preds: Mapping[str, Iterable[str]],
    path: str | None = None,
) -> None:
    """Refuse a step tagged on separate cells whose later part reads what a step between
    its parts writes: top to bottom that part sees the value, the pipeline cannot (the
    step runs whole, before or beside the step between; if that step needs the first
    part's data, the two form a cycle). Raises ``AnalysisError`` naming both cells of the
    step, the variable and a new step name for the later part (``groups``: one notebook).
    """
    problems: list[AnalysisError] = []
    # The steps writing each variable, by position: the last writer above a read is one
    # bisection (a scan of every step per read is quadratic in the notebook's length).
    writers: dict[str, tuple[list[int], list[StepGroup]]] = {}
    for b in sorted(groups, key=lambda b: b.position):
        for v in {*facts[b.name].writes, *facts[b.name].weak_writes}:
            at, who = writers.setdefault(v, ([], []))
            at.append(b.position)
            who.append(b)
    for g in groups:
        first = g.position
        for v, (cell, line) in sorted(facts[g.name].reads.items(), key=lambda kv: kv[1][0] or 0):
            if cell is None or cell <= first or v not in writers:
                continue
            at, who = writers[v]
            k = bisect.bisect_left(at, cell) - 1  # the last writer starting above the read
            if k >= 0 and at[k] > first:  # ... and below the step's first cell (not g)
                err = _split_error(g, who[k], v, (cell, line), groups, inputs, preds)
                problems.append(err)
                break  # one problem per step: its fix moves the whole later part
    if problems:
        first_err = min(problems, key=lambda e: e.cell or 0)
        first_err.path = path
        if len(problems) > 1:
            first_err.diagnostics = [
                Diagnostic("error", e.kind, e.message, e.cell, e.line, e.fix) for e in problems
            ]
        raise first_err


def _split_error(
    g: StepGroup,
    b: StepGroup,
    v: str,
    loc: tuple[int, int | None],
    groups: list[StepGroup],
    inputs: Mapping[str, Mapping[str, str]],
    preds: Mapping[str, Iterable[str]],
) -> AnalysisError:
    cell, line = loc
    others = sorted(c.index for o in groups if o is not g for c in o.cells)
    lo = max(i for i in others if i < cell)
    hi = min((i for i in others if i > cell), default=None)
    part = [c for c in g.cells if lo < c.index and (hi is None or c.index < hi)]
    # Only the tagged cells need the new name: untagged ones join the block above.
    tagged = [c.index for c in part if any(t.kind == "step" and t.name for t in c.tags)]
    taken = {o.name for o in groups}
    new = next(n for n in (f"{g.name}_{i}" for i in range(2, 10**6)) if n not in taken)
    direct = sorted(w for w, p in inputs.get(b.name, {}).items() if p == g.name)
    cyclic = bool(direct) or g.name in ancestors_of(preds, b.name)
    if direct:
        why = f"while {b.name!r} reads {', '.join(map(repr, direct))} from {g.name!r}"
    elif cyclic:
        why = f"while {b.name!r} runs after {g.name!r}"
    else:
        why = f"but step {g.name!r} starts above {b.name!r}, so it never receives its values"
    return AnalysisError(
        f"step {g.name!r} is tagged on {cell_label(g.position)} and again on"
        f" {cell_label(part[0].index)}, with step {b.name!r} ({cell_label(b.position)})"
        f" between them: {cell_label(cell)} reads {v!r}, which {b.name!r} writes, {why}"
        + (f": a cycle {g.name} -> {b.name} -> {g.name}" if cyclic else ""),
        kind="cycle" if cyclic else "split-step",
        cell=cell,
        line=line,
        tag=f"step:{g.name}",
        fix=f"give the later part its own step: tag {', '.join(map(cell_label, tagged))}"
        f" step:{new} instead of step:{g.name}",
    )
