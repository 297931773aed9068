"""The step graph: cells -> steps, ``prev:`` edges, inferred data edges, topological order.

Pure functions over :class:`~kale_like.notebook.NotebookSource` and the per-step facts of
:mod:`kale_like.analysis`. Errors name what is wrong (the cycle ``a -> b -> a``, the
known steps for an unknown ``prev:``) with the cell and tag at fault.
"""

from __future__ import annotations

import bisect
import graphlib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .analysis.walker import BlockFacts
from .diagnostics import Diagnostic
from .errors import AnalysisError, TagError
from .notebook import Cell, NotebookSource

SPECIAL_KINDS = (
    "imports",
    "functions",
    "pipeline-parameters",
    "injected-parameters",
    "pipeline-metrics",
)


@dataclass
class StepGroup:
    """The cells of one step, in notebook order, with the ``prev:`` tags found on them."""

    name: str
    cells: list[Cell] = field(default_factory=list)
    prev: list[tuple[str, int, str]] = field(default_factory=list)  # (step, cell, tag text)

    @property
    def position(self) -> int:
        return self.cells[0].index


@dataclass
class Layout:
    """Which cell does what."""

    steps: list[StepGroup]
    special: dict[str, list[Cell]]
    skipped: list[Cell]
    implicit: bool  # no step tag at all: the notebook is one step
    diagnostics: list[Diagnostic]

    @property
    def has_prev(self) -> bool:
        return any(s.prev for s in self.steps)


def layout(nb: NotebookSource, single_step_name: str) -> Layout:
    """Assign every code cell to a step, the prelude, the parameters/metrics, or skip."""
    special: dict[str, list[Cell]] = {k: [] for k in SPECIAL_KINDS}
    steps: dict[str, StepGroup] = {}
    skipped: list[Cell] = []
    diags: list[Diagnostic] = []
    current: StepGroup | None = None
    pending: list[tuple[Cell, list[tuple[str, int, str]]]] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.has("skip"):
            skipped.append(cell)
            continue
        roles = [t for t in cell.tags if t.kind in SPECIAL_KINDS]
        names = list(dict.fromkeys(t.name for t in cell.tags if t.kind == "step"))
        prevs = [(t.name, cell.index, t.text) for t in cell.tags if t.kind == "prev"]
        if len(names) > 1:
            second = [t for t in cell.tags if t.kind == "step"][-1]
            raise TagError(
                f"one cell names two steps ({', '.join(names)})",
                kind="conflicting-tags",
                cell=cell.index,
                tag=second.text,
                path=nb.path,
                fix="split the cell, one step per cell",
            )
        if roles and (names or len({t.kind for t in roles}) > 1):
            kinds = sorted({t.text for t in roles} | {f"step:{n}" for n in names})
            raise TagError(
                f"conflicting tags on one cell: {', '.join(kinds)}",
                kind="conflicting-tags",
                cell=cell.index,
                tag=roles[-1].text,
                path=nb.path,
                fix="give the cell a single role",
            )
        if roles:
            special[roles[0].kind].append(cell)
            for t in cell.tags:
                if t.kind not in SPECIAL_KINDS:
                    diags.append(
                        Diagnostic(
                            "warning",
                            "ignored-tag",
                            f"tag {t.text!r} has no effect on a {roles[0].keyword} cell",
                            cell.index,
                            None,
                            "move the tag to a step cell",
                        )
                    )
            continue
        if names:
            current = steps.setdefault(names[0], StepGroup(names[0]))
            if pending and len(steps) == 1:
                for c, p in pending:  # untagged cells above the first step join it
                    current.cells.append(c)
                    current.prev.extend(p)
                pending = []
            current.cells.append(cell)
            current.prev.extend(prevs)
        elif current is None:
            pending.append((cell, prevs))
        else:
            current.cells.append(cell)
            current.prev.extend(prevs)
    implicit = not steps
    if implicit and pending:
        group = StepGroup(single_step_name)
        for c, p in pending:
            group.cells.append(c)
            group.prev.extend(p)
        steps[group.name] = group
    if not steps:
        raise AnalysisError(
            "the notebook has no step code (every code cell is imports, functions,"
            " parameters, metrics or skip)",
            kind="empty",
            path=nb.path,
            fix="add a code cell tagged step:NAME",
        )
    ordered = sorted(steps.values(), key=lambda s: s.position)
    for s in ordered:
        s.cells.sort(key=lambda c: c.index)
    return Layout(ordered, special, skipped, implicit, diags)


def check_prev(lay: Layout, path: str | None = None) -> None:
    """Every ``prev:`` names an existing step defined above the tag (cycles checked later)."""
    by_name = {s.name: s for s in lay.steps}
    for s in lay.steps:
        for target, cell, text in s.prev:
            if target not in by_name:
                known = ", ".join(by_name)
                raise TagError(
                    f"{text!r} names a step that does not exist; known steps: {known}",
                    kind="unknown-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix="fix the step name or remove the tag",
                )
            if by_name[target].position > cell:
                raise TagError(
                    f"{text!r} names step {target!r}, which is defined below (cell"
                    f" {by_name[target].position}); a step can only follow steps above it",
                    kind="later-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix=f"move step {target!r} above cell {cell}, or remove the tag",
                )


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


def ancestors(order: list[str], preds: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Transitive predecessors of every step (``order`` must be topological)."""
    bit = {n: 1 << i for i, n in enumerate(order)}
    masks: dict[str, int] = {}
    for n in order:
        m = 0
        for p in preds.get(n, ()):
            m |= masks[p] | bit[p]
        masks[n] = m
    return {n: {o for o in order if masks[n] & bit[o]} for n in order}


@dataclass
class Flow:
    """Result of the last-writer data flow over steps in notebook order."""

    inputs: dict[str, dict[str, str]]  # step -> {var: producer}
    state_inputs: dict[str, dict[str, str]]  # step -> {kind: producer} (from reads)
    parameters: dict[str, list[str]]
    locations: dict[tuple[str, str], tuple[int | None, int | None]]  # (step, var) -> read loc
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
    param_set, prelude, builtin = set(params), set(prelude_names), set(builtins)
    # var -> ([step index], [status]); status: "w" write, "weak" alias write, "del"
    history: dict[str, tuple[list[int], list[str]]] = {}
    state_hist: dict[str, list[int]] = {}
    for i, s in enumerate(steps):
        f = facts[s]
        for group, status in ((f.writes, "w"), (f.weak_writes, "weak"), (f.deleted, "del")):
            for v in group:
                idx, sts = history.setdefault(v, ([], []))
                idx.append(i)
                sts.append(status)
        for k in f.state_writes:
            state_hist.setdefault(k, []).append(i)

    def last(v: str, before: int) -> tuple[int, str] | None:
        idx, sts = history.get(v, ([], []))
        pos = bisect.bisect_left(idx, before) - 1
        return (idx[pos], sts[pos]) if pos >= 0 else None

    inputs: dict[str, dict[str, str]] = {}
    state_in: dict[str, dict[str, str]] = {}
    used_params: dict[str, list[str]] = {}
    locs: dict[tuple[str, str], tuple[int | None, int | None]] = {}
    diags: list[Diagnostic] = []
    params_read: dict[str, set[str]] = {s: set() for s in steps}

    def resolve(i: int, v: str, loc: tuple[int | None, int | None], soft: bool) -> None:
        s = steps[i]
        hit = last(v, i)
        if hit is not None:
            j, status = hit
            if status != "del":
                inputs[s][v] = steps[j]
                locs[(s, v)] = loc
            elif not soft:
                diags.append(
                    Diagnostic(
                        "warning",
                        "undefined-name",
                        f"step {s!r} reads {v!r}, which step {steps[j]!r} deleted",
                        loc[0],
                        loc[1],
                        f"stop deleting {v!r} or redefine it first",
                        s,
                    )
                )
            return
        if v in param_set:
            params_read[s].add(v)
        elif not (v in prelude or v in builtin or star_import or soft):
            idx, sts = history.get(v, ([], []))
            later = [steps[j] for j, st in zip(idx, sts, strict=True) if st == "w" and j > i]
            why = f"only defined later, in step {later[0]!r}" if later else "never defined"
            diags.append(
                Diagnostic(
                    "warning",
                    "undefined-name",
                    f"step {s!r} reads {v!r}, {why}",
                    loc[0],
                    loc[1],
                    "define it in this step or a step above",
                    s,
                )
            )

    for i, s in enumerate(steps):
        f = facts[s]
        inputs[s] = {}
        for v, loc in f.reads.items():
            resolve(i, v, loc, False)
        for v, loc in f.soft_reads.items():
            if v not in f.reads:
                resolve(i, v, loc, True)
        st: dict[str, str] = {}
        for kind in f.state_reads:
            idx = state_hist.get(kind, [])
            pos = bisect.bisect_left(idx, i) - 1
            if pos >= 0:
                st[kind] = steps[idx[pos]]
        state_in[s] = st
    # A weak (alias) writer that a later step, or the metrics, take the value from must
    # load the value itself; later steps first, so chains of weak writers resolve.
    final = {v for v in final_reads if last(v, len(steps)) is not None}
    for i in range(len(steps) - 1, -1, -1):
        s = steps[i]
        for v, loc in facts[s].weak_writes.items():
            consumed = (v in final and last(v, len(steps)) == (i, "weak")) or any(
                inputs[c].get(v) == s for c in steps[i + 1 :]
            )
            if consumed and v not in inputs[s]:
                resolve(i, v, loc, True)
    for s in steps:
        used_params[s] = [p for p in params if p in params_read[s]]
    return Flow(inputs, state_in, used_params, locs, diags)
