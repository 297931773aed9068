"""Observed edges: the facts of earlier local runs (:mod:`kale_like.pipeline.observed`)
applied to the IR.

Each later step that reads a name a run saw a step write undeclared takes it from that
writer, which now declares it as an output; a global-state kind a run saw changed or drawn
from is routed the same way. A compiled KFP pipeline thus carries the value, and a cluster
run is right where it would otherwise fail with an undeclared write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import cell_label
from ..model import STATE_KINDS, Pipeline, Step
from .observed import Fact, facts_for, read_store, store_path
from .placing import diag_key

__all__ = ["apply_facts", "with_observed"]


def with_observed(pipeline: Pipeline, run_root: Any = None) -> Pipeline:
    """``pipeline`` plus the observed edges stored for its notebook's current code."""
    if not pipeline.notebook_path:
        return pipeline
    store = read_store(store_path(pipeline.notebook_path, run_root))
    return apply_facts(pipeline, facts_for(store, pipeline))


def apply_facts(pipeline: Pipeline, facts: Iterable[Fact]) -> Pipeline:
    """The pipeline with the observed edges the facts imply.

    A variable: each later step that reads the name (and would otherwise take it from
    before the writer) receives it from the writer, which now declares it. Writers are
    taken in notebook order, so a later writer of the same name wins, as top to bottom.
    A state kind: an observed change makes the step a writer of the kind; a step that
    draws from it (observed, or a reader the analysis saw) takes it from the last writer
    before it in notebook order when that writer or the draw was observed.
    An edge that would close a cycle (``prev:`` runs the reader first) is left out with a
    warning naming the fix.
    """
    facts = list(facts)
    if not facts:
        return pipeline
    pos = {s.name: i for i, s in enumerate(pipeline.reading_order())}
    steps = {s.name: s for s in pipeline.steps}
    diags: list[Diagnostic] = []
    facts = [f for f in facts if f.step in steps]
    for fact in sorted(facts, key=lambda f: (pos[f.step], f.name)):
        if not fact.state:
            diags += _route_variable(pipeline, steps, pos, fact)
    diags += _route_state(steps, pos, [f for f in facts if f.state])
    if not diags:
        return pipeline
    ordered = _topological(pipeline, steps)
    return replace(pipeline, steps=ordered, diagnostics=_sorted([*pipeline.diagnostics, *diags]))


def _route_variable(
    pipeline: Pipeline, steps: dict[str, Step], pos: Mapping[str, int], fact: Fact
) -> list[Diagnostic]:
    from ..runtime.spec import later_readers

    writer = steps[fact.step]
    current = replace(pipeline, steps=tuple(steps.values()))
    routed: list[str] = []
    blocked: list[str] = []
    for name in later_readers(current, writer).get(fact.name, []):
        consumer = steps[name]
        source = consumer.input_map.get(fact.name)
        if source is not None and pos[source] >= pos[writer.name]:
            continue  # the writer, or a step after it, already provides it
        if name in _ancestors(steps, writer.name):
            blocked.append(name)
            continue
        after = consumer.after if writer.name in consumer.after else (*consumer.after, writer.name)
        inputs = [(v, p) for v, p in consumer.inputs if v != fact.name] + [(fact.name, writer.name)]
        observed = tuple(dict.fromkeys([*consumer.observed, fact.name]))
        steps[name] = replace(consumer, inputs=tuple(inputs), after=after, observed=observed)
        routed.append(name)
    out: list[Diagnostic] = []
    if routed:  # the writer declares it: the runtime saves it instead of failing the step
        w = steps[writer.name]
        outputs = w.outputs if fact.name in w.outputs else (*w.outputs, fact.name)
        steps[writer.name] = replace(
            w, outputs=outputs, writes=tuple(sorted({*w.writes, fact.name}))
        )
        out.append(_routed_diagnostic(writer, fact, routed))
    if blocked:
        out.append(_blocked_diagnostic(writer, fact, blocked[0]))
    return out


def _route_state(
    steps: dict[str, Step], pos: Mapping[str, int], facts: list[Fact]
) -> list[Diagnostic]:
    changed = {(f.step, f.name): f for f in facts if f.how == "changed"}
    drew = {(f.step, f.name): f for f in facts if f.how == "drew"}
    for step, kind in changed:
        w = steps[step]
        kinds = {*w.state_outputs, kind}
        steps[step] = replace(w, state_outputs=tuple(k for k in STATE_KINDS if k in kinds))
    order = sorted(steps, key=pos.__getitem__)
    out: list[Diagnostic] = []
    routed: dict[tuple[str, str], list[str]] = {}
    for kind in STATE_KINDS:
        for i, name in enumerate(order):
            consumer = steps[name]
            current = dict(consumer.state_inputs).get(kind)
            if (name, kind) not in drew and current is None:
                continue  # neither observed drawing nor a reader the analysis saw
            writer = next((w for w in reversed(order[:i]) if kind in steps[w].state_outputs), None)
            if writer is None or writer == current:
                continue
            if (writer, kind) not in changed and (name, kind) not in drew:
                continue  # nothing observed about this pair: the analysis' choice stands
            if current is not None and pos[current] > pos[writer]:
                continue
            if name in _ancestors(steps, writer):
                fact = drew.get((name, kind)) or changed[(writer, kind)]
                out.append(_blocked_diagnostic(steps[writer], replace(fact, step=writer), name))
                continue
            after = consumer.after if writer in consumer.after else (*consumer.after, writer)
            pairs = [(k, p) for k, p in consumer.state_inputs if k != kind] + [(kind, writer)]
            seen = tuple(dict.fromkeys([*consumer.observed_state, kind]))
            steps[name] = replace(
                consumer, state_inputs=tuple(pairs), after=after, observed_state=seen
            )
            routed.setdefault((writer, kind), []).append(name)
    for (writer, kind), names in routed.items():
        change = changed.get((writer, kind))
        if change is not None:
            out.append(_routed_diagnostic(steps[writer], change, names))
            continue
        for n in names:  # the analysis saw the change; the draws were observed
            out.append(_drew_diagnostic(steps[n], drew[(n, kind)], writer))
    return out


def _ancestors(steps: Mapping[str, Step], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for p in steps[todo.pop()].after:
            if p not in seen and p in steps:
                seen.add(p)
                todo.append(p)
    return seen


def _topological(pipeline: Pipeline, steps: Mapping[str, Step]) -> tuple[Step, ...]:
    """Steps in dependency order, the previous order breaking ties (stable)."""
    rank = {s.name: i for i, s in enumerate(pipeline.steps)}
    done: list[Step] = []
    placed: set[str] = set()
    pending = sorted(steps, key=rank.__getitem__)
    while pending:
        ready = next(n for n in pending if all(p in placed for p in steps[n].after if p in steps))
        pending.remove(ready)
        placed.add(ready)
        done.append(steps[ready])
    return tuple(done)


def _where(cell: int | None) -> str:
    return f" in {cell_label(cell)}" if cell is not None else ""


def _what(fact: Fact) -> str:
    return f"<{fact.name} state>" if fact.state else repr(fact.name)


def _run(fact: Fact) -> str:
    return f"run {fact.run}" if fact.run else "a local run"


def _routed_diagnostic(writer: Step, fact: Fact, routed: list[str]) -> Diagnostic:
    readers = ", ".join(repr(r) for r in routed)
    return Diagnostic(
        "info",
        "observed-write",
        f"{_run(fact)} saw step {writer.name!r} {_verb(fact.how)} {_what(fact)}"
        f"{_where(fact.cell)} although the analysis did not; {readers} now "
        f"receive{'s' if len(routed) == 1 else ''} it from {writer.name!r} (observed edge)",
        fact.cell,
        None,
        None,
        writer.name,
        writer.notebook,
    )


def _drew_diagnostic(reader: Step, fact: Fact, writer: str) -> Diagnostic:
    return Diagnostic(
        "info",
        "observed-write",
        f"{_run(fact)} saw step {reader.name!r} draw from {_what(fact)}{_where(fact.cell)} "
        f"although the analysis did not; it now receives it from {writer!r}, which changes "
        "it before (observed edge)",
        fact.cell,
        None,
        None,
        reader.name,
        reader.notebook,
    )


def _blocked_diagnostic(writer: Step, fact: Fact, reader: str) -> Diagnostic:
    return Diagnostic(
        "warning",
        "observed-write-unrouted",
        f"step {writer.name!r} {_verb(fact.how)}s {_what(fact)}{_where(fact.cell)}, which "
        f"step {reader!r} reads, but {reader!r} runs before it (prev:); the value cannot be "
        "passed",
        fact.cell,
        None,
        f"remove the prev: tags that make {reader!r} run before {writer.name!r}",
        writer.name,
        writer.notebook,
    )


def _verb(how: str) -> str:
    return {"bound": "bind", "rebound": "rebind", "deleted": "delete", "drew": "draw from"}.get(
        how, "change"
    )


def _sorted(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diags, key=diag_key))
