"""Segmentation of a notebook's work cells into steps, and their names (see
:mod:`kale_like.suggest`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .notebook import NotebookSource
from .suggest_cost import BYTES_PER_SECOND, History

LIGHT_SECONDS = 0.5  # a result nobody reads, cheaper than this, is not worth a step
SUBSTANTIAL_SECONDS = 1.0
_STEP_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass
class Segment:
    """A run of work cells that becomes one step."""

    cells: list[int]
    fixed: str | None = None  # the name of a step tagged by hand
    name: str = ""
    notes: list[str] = field(default_factory=list)  # why cells were joined into it


@dataclass
class Context:
    """Everything the segmentation needs about the notebook's cells."""

    nb: NotebookSource
    roles: dict[int, str]  # free cells given a prelude role -> role
    work: list[int]  # cells of work, notebook order
    fixed: dict[int, str]  # work cell -> hand-tagged step name ("" : continues the cell above)
    preds: dict[int, dict[int, list[str]]]  # consumer cell -> producer cell -> variables
    seconds: dict[int, float]
    measured: set[int]  # cells whose seconds an earlier run measured
    var_bytes: dict[str, tuple[int, bool]]
    unsafe: set[str]  # variables that cannot be saved between steps (iterators, files)
    headings: dict[int, str]  # work cell -> text of the nearest heading above it (since prev)
    metrics_of: dict[int, list[str]]  # cell -> metrics it writes last
    history: History | None = None
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ segmentation


@dataclass
class _Dag:
    preds: list[set[int]]  # segment -> segments it reads from
    succs: list[set[int]]
    anc: list[int]  # bitmask of transitive predecessors


def _dag(ctx: Context, segs: list[Segment]) -> _Dag:
    seg_of = {c: k for k, s in enumerate(segs) for c in s.cells}
    preds: list[set[int]] = [set() for _ in segs]
    for k, s in enumerate(segs):
        for c in s.cells:
            preds[k] |= {seg_of[p] for p in ctx.preds[c] if seg_of[p] != k}
    succs: list[set[int]] = [set() for _ in segs]
    for k, ps in enumerate(preds):
        for p in ps:
            succs[p].add(k)
    anc = [0] * len(segs)
    for k in range(len(segs)):  # edges only go forward in notebook order
        for p in preds[k]:
            anc[k] |= anc[p] | (1 << p)
    return _Dag(preds, succs, anc)


def _work(ctx: Context, s: Segment) -> float:
    return sum(ctx.seconds[c] for c in s.cells)


def _carried(ctx: Context, segs: list[Segment], a: int, b: int) -> list[str]:
    """Variables segment ``b`` reads from segment ``a``."""
    src = set(segs[a].cells)
    out: list[str] = []
    for c in segs[b].cells:
        for p, vs in ctx.preds[c].items():
            if p in src:
                out += [v for v in vs if v not in out]
    return out


def _transfer(ctx: Context, variables: list[str]) -> float:
    size = sum(ctx.var_bytes.get(v, (0, False))[0] for v in variables)
    return size / BYTES_PER_SECOND


def _heading(ctx: Context, segs: list[Segment], b: int) -> str | None:
    return ctx.headings.get(segs[b].cells[0])


def _compatible(segs: list[Segment], a: int, b: int) -> bool:
    fa, fb = segs[a].fixed, segs[b].fixed
    return fa is None or fb is None or fa == fb


def _keep_reason(ctx: Context, segs: list[Segment], a: int, b: int, min_s: float) -> str | None:
    """Why the boundary between adjacent segments a, b deserves to stay (None: no reason)."""
    if segs[b].fixed is not None and segs[b].fixed != segs[a].fixed:
        return f"tagged step:{segs[b].fixed}"
    head = _heading(ctx, segs, b)
    if head is not None:
        return f"heading {head!r}"
    wa, wb = _work(ctx, segs[a]), _work(ctx, segs[b])
    sub = max(SUBSTANTIAL_SECONDS, min_s)
    if wa >= sub and wb >= sub and _transfer(ctx, _carried(ctx, segs, a, b)) <= 0.1 * min(wa, wb):
        return "substantial work on both sides, little data crossing"
    return None


def _safe(dag: _Dag, a: int, b: int) -> bool:
    """Merging a and b loses no parallelism: whatever b waits for, a waits for too, and
    whatever waits for a waits for b anyway."""
    ins = all(dag.anc[a] >> p & 1 for p in dag.preds[b] - {a})
    outs = all(dag.anc[s] >> b & 1 for s in dag.succs[a] - {b})
    return ins and outs


def _sink(ctx: Context, s: Segment, dag: _Dag, k: int) -> bool:
    """Light cells whose results no later step reads (displays, plots, prints)."""
    return (
        not dag.succs[k]
        and s.fixed is None
        and not any(ctx.metrics_of.get(c) for c in s.cells)
        and _work(ctx, s) < LIGHT_SECONDS
    )


def _must_join(ctx: Context, segs: list[Segment], a: int, b: int) -> str | None:
    if segs[b].fixed is not None and segs[b].fixed == segs[a].fixed:
        return "continues the step above"
    bad = [v for v in _carried(ctx, segs, a, b) if v in ctx.unsafe]
    if bad:
        return f"{', '.join(bad)} (an iterator or open file) cannot be saved between steps"
    return None


def _merge(segs: list[Segment], a: int, note: str | None) -> list[Segment]:
    x, y = segs[a], segs[a + 1]
    fixed = x.fixed if x.fixed else y.fixed if y.fixed else x.fixed
    joined = Segment([*x.cells, *y.cells], fixed, notes=[*x.notes, *y.notes])
    if note:
        joined.notes.append(note)
    return [*segs[:a], joined, *segs[a + 2 :]]


def _loss(ctx: Context, segs: list[Segment], dag: _Dag, a: int) -> float:
    b = a + 1
    lost = (
        0.0
        if (a in dag.preds[b] and _safe(dag, a, b))
        else min(_work(ctx, segs[a]), _work(ctx, segs[b]))
    )
    head = 0.25 if _heading(ctx, segs, b) else 0.0
    return lost + head - _transfer(ctx, _carried(ctx, segs, a, b))


def _cells_text(cells: list[int]) -> str:
    nums = [c + 1 for c in cells]
    return f"cell {nums[0]}" if len(nums) == 1 else f"cells {nums[0]}-{nums[-1]}"


def segment(ctx: Context, max_steps: int, min_step_seconds: float) -> list[Segment]:
    """Contiguous segments of the work cells (see the module docstring)."""
    segs: list[Segment] = []
    for c in ctx.work:
        fixed = ctx.fixed.get(c)
        if fixed == "" and segs:  # an empty step: tag continues the step above (Kale)
            segs[-1].cells.append(c)
        else:
            segs.append(Segment([c], fixed or None))
    changed = True
    while changed and len(segs) > 1:
        changed = False
        dag = _dag(ctx, segs)
        for a in range(len(segs) - 1):
            b = a + 1
            if not _compatible(segs, a, b):
                continue
            why = _must_join(ctx, segs, a, b)
            if why is None and _sink(ctx, segs[b], dag, b) and _safe_in(dag, a, b):
                why = (
                    f"{_cells_text(segs[b].cells)} only display results (nothing later reads them)"
                )
            elif why is None and _sink(ctx, segs[a], dag, a) and not _heading(ctx, segs, a):
                if all(dag.anc[b] >> p & 1 for p in dag.preds[a]):
                    why = f"{_cells_text(segs[a].cells)} only display results"
            elif why is None and a in dag.preds[b] and _safe(dag, a, b):
                if _keep_reason(ctx, segs, a, b, min_step_seconds) is None:
                    why = ""  # a plain chain link: one step, no overhead
            if why is not None:
                segs = _merge(segs, a, why or None)
                changed = True
                break
    # Limits the user asked for: merge the cheapest boundaries.
    while len(segs) > max(1, max_steps):
        dag = _dag(ctx, segs)
        cands = [a for a in range(len(segs) - 1) if _compatible(segs, a, a + 1)]
        if not cands:
            break
        a = min(cands, key=lambda a: _loss(ctx, segs, dag, a))
        segs = _merge(segs, a, f"--max-steps {max_steps}")
    if min_step_seconds > 0:
        while len(segs) > 1:
            dag = _dag(ctx, segs)
            short = [k for k, s in enumerate(segs) if _work(ctx, s) < min_step_seconds]
            options = [
                a
                for k in short
                for a in (k - 1, k)
                if 0 <= a < len(segs) - 1 and _compatible(segs, a, a + 1)
            ]
            if not options:
                break
            a = min(options, key=lambda a: _loss(ctx, segs, dag, a))
            segs = _merge(segs, a, f"--min-step-seconds {min_step_seconds:g}")
    return segs


def _safe_in(dag: _Dag, a: int, b: int) -> bool:
    return all(dag.anc[a] >> p & 1 for p in dag.preds[b] - {a})


def merge_at(segs: list[Segment], k: int, why: str) -> list[Segment]:
    """Join segment ``k`` with the one above it (below it for the first): used when the
    checks object to the boundary at its start."""
    if len(segs) < 2:
        return segs
    a = k - 1 if k > 0 else 0
    if not _compatible(segs, a, a + 1):
        other = a + 1 if a + 2 < len(segs) else None
        if other is None or not _compatible(segs, other, other + 1):
            return segs
        a = other
    return _merge(segs, a, why)


# ------------------------------------------------------------------ names and tags


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    s = re.sub(r"^[0-9_]+", "", s)
    return s[:40].strip("_")


def _code_name(ctx: Context, s: Segment, produced: list[str], joins: bool) -> str:
    code = "\n".join(c.source for c in ctx.nb.cells if c.index in set(s.cells))
    fitted = re.findall(r"([A-Za-z_]\w*)\.(?:fit|fit_transform|partial_fit|train)\s*\(", code)
    if fitted and _slug(fitted[0]):
        return f"train_{_slug(fitted[0])}"
    if re.search(r"\bread_\w+\s*\(|\bload\w*\s*\(", code):
        return "load_data"
    if re.search(r"\.predict\w*\s*\(", code):
        return "predict"
    if produced and _slug(produced[0]):
        return f"make_{_slug(produced[0])}"
    if re.search(r"\bplt\.|\.plot\s*\(", code):
        return "plot"
    return "compare" if joins else "report"


def name_segments(ctx: Context, segs: list[Segment]) -> None:
    """Step names: the hand-written one, else the heading above, else from the code."""
    taken = {s.fixed for s in segs if s.fixed}
    consumed: dict[int, list[str]] = {}
    seg_of = {c: k for k, s in enumerate(segs) for c in s.cells}
    for c, ps in ctx.preds.items():
        for p, vs in ps.items():
            if seg_of[p] != seg_of[c]:
                consumed.setdefault(seg_of[p], []).extend(
                    v for v in vs if not v.startswith(("<", "file:"))
                )
    dag = _dag(ctx, segs)
    for k, s in enumerate(segs):
        if s.fixed:
            s.name = s.fixed
            continue
        base = ""
        head = next((ctx.headings[c] for c in s.cells if c in ctx.headings), None)
        if head:
            base = _slug(head)
        if not base:
            joins = len(dag.preds[k]) > 1
            base = _code_name(ctx, s, list(dict.fromkeys(consumed.get(k, []))), joins)
        if not base or not _STEP_NAME.match(base):
            base = f"step_{k + 1}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        s.name = name
