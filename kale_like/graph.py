"""The step graph: cells -> steps, ``prev:`` edges, inferred data edges, topological order.

Pure functions over :class:`~kale_like.notebook.NotebookSource` and the per-step facts of
:mod:`kale_like.analysis`. Errors name what is wrong (the cycle ``a -> b -> a``, the
known steps for an unknown ``prev:``) with the cell and tag at fault.
"""

from __future__ import annotations

import bisect
import difflib
import graphlib
import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

from .analysis.walker import BlockFacts
from .diagnostics import Diagnostic
from .errors import AnalysisError, TagError, cell_label
from .model import CellRole
from .notebook import Cell, NotebookSource

_T = TypeVar("_T")

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
    roles: list[CellRole] = field(default_factory=list)

    @property
    def has_prev(self) -> bool:
        return any(s.prev for s in self.steps)


def layout(
    nb: NotebookSource, single_step_name: str, errors: list[TagError] | None = None
) -> Layout:
    """Assign every code cell to a step, the prelude, the parameters/metrics, or skip.

    Kale's rules (0.7 and 2.3 alike): an untagged cell, or one with an empty ``step:`` /
    ``block:`` tag, joins the block above it, whatever that block is (a step, ``imports``,
    ``functions``, the parameters or the metrics); ``skip`` cells are transparent; untagged
    cells above the first tagged cell belong to no block and are left out. A notebook
    without any step tag is one step. Tag errors are appended to ``errors`` when given
    (all of them are reported in one pass), raised otherwise.
    """
    special: dict[str, list[Cell]] = {k: [] for k in SPECIAL_KINDS}
    steps: dict[str, StepGroup] = {}
    skipped: list[Cell] = []
    diags: list[Diagnostic] = []
    roles: list[CellRole] = []
    implicit = not any(t.kind == "step" and t.name for c in nb.cells for t in c.tags)
    block: StepGroup | str | None = None  # the block untagged cells join
    outside: list[Cell] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.has("skip"):
            skipped.append(cell)
            roles.append(CellRole(cell.index, "skip"))
            continue
        try:
            kind, names = _cell_kind(cell, nb.path)
        except TagError as err:
            if errors is None:
                raise
            errors.append(err)
            continue
        if kind in SPECIAL_KINDS:
            special[kind].append(cell)
            diags += _ignored_on_special(cell, kind)
            block = kind
            roles.append(CellRole(cell.index, kind))
            continue
        prevs = [(t.name, cell.index, t.text) for t in cell.tags if t.kind == "prev"]
        if names:
            block = steps.setdefault(names[0], StepGroup(names[0]))
            block.cells.append(cell)
            block.prev.extend(prevs)
            roles.append(CellRole(cell.index, "step", names[0]))
            continue
        # Untagged, or an empty step: tag: the cell continues the block above.
        if cell.first("step") is not None and prevs:
            diags.append(
                Diagnostic(
                    "info",
                    "ignored-prev",
                    f"{', '.join(t for _, _, t in prevs)} on a cell with an empty step tag is"
                    " ignored: the cell continues the block above (as in Kale)",
                    cell.index,
                    None,
                    "name the step (step:NAME) to give it its own dependencies",
                )
            )
        if implicit:
            outside.append(cell)  # no step tags: the untagged cells form the single step
        elif isinstance(block, StepGroup):
            block.cells.append(cell)
            block.prev.extend(prevs if cell.first("step") is None else [])
            roles.append(CellRole(cell.index, "step", block.name, joined=True))
        elif isinstance(block, str):
            special[block].append(cell)
            roles.append(CellRole(cell.index, block, joined=True))
        else:
            outside.append(cell)
    if implicit and outside:
        group = StepGroup(single_step_name)
        for c in outside:
            group.cells.append(c)
            roles.append(CellRole(c.index, "step", group.name, joined=True))
        steps[group.name] = group
    elif outside:
        first = min((c.index for g in steps.values() for c in g.cells), default=None)
        for c in outside:
            roles.append(CellRole(c.index, "outside"))
            if c.source.strip():
                diags.append(
                    Diagnostic(
                        "warning",
                        "outside-pipeline",
                        f"{cell_label(c.index)} is untagged and above every tagged cell, so it"
                        " is not part of the pipeline (Kale's rule)",
                        c.index,
                        None,
                        "tag it imports (run in every step) or step:NAME, or skip to silence"
                        + (
                            f"; the first step starts at {cell_label(first)}"
                            if first is not None
                            else ""
                        ),
                    )
                )
    if not steps and not errors:
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
    for kind in special:
        special[kind].sort(key=lambda c: c.index)
    roles.sort(key=lambda r: r.cell)
    return Layout(ordered, special, skipped, implicit, diags, roles)


def _cell_kind(cell: Cell, path: str | None) -> tuple[str, list[str]]:
    """The cell's role (a special kind, ``step`` or ``""`` for none) and its step names."""
    roles = [t for t in cell.tags if t.kind in SPECIAL_KINDS]
    names = list(dict.fromkeys(t.name for t in cell.tags if t.kind == "step" and t.name))
    if len(names) > 1:
        second = [t for t in cell.tags if t.kind == "step" and t.name][-1]
        raise TagError(
            f"one cell names two steps ({', '.join(names)})",
            kind="conflicting-tags",
            cell=cell.index,
            tag=second.text,
            path=path,
            fix=f"split the cell, one step per cell, or remove the tag {second.text!r}",
        )
    if roles and (names or len({t.kind for t in roles}) > 1):
        kinds = sorted({t.text for t in roles} | {f"step:{n}" for n in names})
        keep = roles[0].text
        raise TagError(
            f"conflicting tags on one cell: {', '.join(kinds)}",
            kind="conflicting-tags",
            cell=cell.index,
            tag=roles[-1].text if roles[-1].text != keep else kinds[-1],
            path=path,
            fix=f"give the cell a single role: keep {keep!r} and split the cell for the rest",
        )
    if roles:
        return roles[0].kind, []
    return ("step" if names else ""), names


def _ignored_on_special(cell: Cell, kind: str) -> list[Diagnostic]:
    out = []
    for t in cell.tags:
        if t.kind in SPECIAL_KINDS:
            continue
        # Kale ignores every other tag of such a cell; prev: there is common and harmless.
        out.append(
            Diagnostic(
                "info" if t.kind == "prev" else "warning",
                "ignored-tag",
                f"tag {t.text!r} has no effect on a {kind} cell",
                cell.index,
                None,
                "move the tag to a step cell",
            )
        )
    return out


def check_prev(lay: Layout, path: str | None = None, errors: list[TagError] | None = None) -> None:
    """Every ``prev:`` names an existing step defined above the tag (cycles checked later).

    Problems are appended to ``errors`` when given, raised otherwise."""
    by_name = {s.name: s for s in lay.steps}
    for s in lay.steps:
        for target, cell, text in s.prev:
            err = None
            if target not in by_name:
                known = ", ".join(by_name)
                near = difflib.get_close_matches(target, list(by_name), n=1)
                err = TagError(
                    f"{text!r} names a step that does not exist; known steps: {known}",
                    kind="unknown-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix=f"write prev:{near[0]}"
                    if near and by_name[near[0]].position < cell
                    else f"remove the tag {text!r}",
                )
            elif by_name[target].position > cell:
                err = TagError(
                    f"{text!r} names step {target!r}, which is defined below"
                    f" ({cell_label(by_name[target].position)}); a step can only follow steps"
                    " above it",
                    kind="later-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix=f"move step {target!r} above {cell_label(cell)}, or remove the tag"
                    f" {text!r}",
                )
            if err is not None:
                if errors is None:
                    raise err
                errors.append(err)


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
    cyclic = bool(direct) or g.name in _upstream(b.name, preds)
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


def _upstream(step: str, preds: Mapping[str, Iterable[str]]) -> set[str]:
    """Every step ``step`` depends on, directly or not."""
    seen: set[str] = set()
    todo = list(preds.get(step, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(preds.get(n, ()))
    return seen


class AncestorSet(AbstractSet[str]):
    """The transitive predecessors of one step: a read-only view of a bitmask.

    Membership is one bit test, so asking about every pair of steps stays cheap where
    materialised sets would hold a quadratic number of names (a chain of n steps).
    Iteration yields the names in rank order (``Ancestors``' ``rank``)."""

    __slots__ = ("_mask", "_names", "_bit")

    def __init__(self, mask: int, names: Sequence[str], bit: Mapping[str, int]) -> None:
        self._mask, self._names, self._bit = mask, names, bit

    def __contains__(self, name: object) -> bool:
        b = self._bit.get(name) if isinstance(name, str) else None
        return b is not None and bool(self._mask >> b & 1)

    def __iter__(self) -> Iterator[str]:
        m = self._mask
        while m:
            low = m & -m
            yield self._names[low.bit_length() - 1]
            m ^= low

    def __len__(self) -> int:
        return self._mask.bit_count()

    def __repr__(self) -> str:
        return f"AncestorSet({set(self)!r})"

    @classmethod
    def _from_iterable(cls, it: Iterable[_T]) -> AbstractSet[_T]:
        return set(it)  # `a | b`, `a & b`... give plain sets


class Ancestors(Mapping[str, AncestorSet]):
    """Transitive predecessors of every step, one bitmask per step (see ``ancestors``)."""

    def __init__(
        self,
        order: Sequence[str],
        preds: Mapping[str, Iterable[str]],
        rank: Sequence[str] | None = None,
    ) -> None:
        self._names = list(rank if rank is not None else order)
        self._bit = {n: i for i, n in enumerate(self._names)}
        bit = {n: 1 << i for n, i in self._bit.items()}
        self._masks: dict[str, int] = {}
        for n in order:
            m = 0
            for p in preds.get(n, ()):
                m |= self._masks[p] | bit[p]
            self._masks[n] = m

    def __getitem__(self, step: str) -> AncestorSet:
        return AncestorSet(self._masks[step], self._names, self._bit)

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def bits(self, step: str) -> int:
        """The ancestors of ``step`` as a mask (bit ``i``: the ``i``-th name of ``rank``)."""
        return self._masks[step]

    def members(self, mask: int) -> list[str]:
        """The names of the bits of ``mask``, in rank order."""
        return list(AncestorSet(mask, self._names, self._bit))

    def mask(self, names: Iterable[str]) -> int:
        """The bits of ``names`` (for :meth:`latest`, or to combine with :meth:`bits`)."""
        m = 0
        for n in names:
            m |= 1 << self._bit[n]
        return m

    def latest(self, step: str, among: int) -> str | None:
        """The ancestor of ``step`` in ``among`` (a :meth:`mask`) ranked last, if any."""
        hit = self._masks[step] & among
        return self._names[hit.bit_length() - 1] if hit else None


def ancestors(
    order: Sequence[str], preds: Mapping[str, Iterable[str]], rank: Sequence[str] | None = None
) -> Ancestors:
    """Transitive predecessors of every step (``order`` must be topological).

    ``rank`` (default ``order``) orders each step's ancestors when iterated and decides
    which one :meth:`Ancestors.latest` picks; pass the notebook order for "the last above".
    """
    return Ancestors(order, preds, rank)


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
    # (var, producer) of every input: a producer only feeds steps below it, so "a later
    # step takes v from s" is one lookup; inputs added below are recorded as they come.
    fed = {(v, p) for s in steps for v, p in inputs[s].items()}
    for i in range(len(steps) - 1, -1, -1):
        s = steps[i]
        for v, loc in facts[s].weak_writes.items():
            consumed = (v in final and last(v, len(steps)) == (i, "weak")) or (v, s) in fed
            if consumed and v not in inputs[s]:
                resolve(i, v, loc, True)
                if v in inputs[s]:
                    fed.add((v, inputs[s][v]))
    for s in steps:
        used_params[s] = [p for p in params if p in params_read[s]]
    return Flow(inputs, state_in, used_params, locs, diags)
