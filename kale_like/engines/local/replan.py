"""Re-planning the local run on writes the analysis did not see (runtime/observe.py).

A step reports each undeclared write with the later steps that read the name (``later``) and
whether it saved the value for them. :func:`route` turns that into new data edges: each of
those consumers now takes the name from the writer (unless a step between them in notebook
order already provides it). A consumer that already ran must run again; one that changes
the name itself while running in parallel with the writer cannot be made right: a
:class:`Conflict` names both steps, the cells, the variable and the ``prev:`` fix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...errors import cell_label
from ...model import Pipeline, Step
from .plan import _edges


@dataclass(frozen=True)
class Route:
    """``consumer`` now receives ``variable`` from ``writer``."""

    writer: str
    consumer: str
    variable: str
    cell: int | None

    def message(self) -> str:
        where = f" ({cell_label(self.cell)})" if self.cell is not None else ""
        return (
            f"step {self.writer} changed `{self.variable}`{where} although the analysis did "
            f"not see it; {self.consumer} now receives it from {self.writer}"
        )


@dataclass(frozen=True)
class Conflict:
    """Two parallel steps both change ``variable``: no order of the DAG is the notebook's."""

    first: str
    second: str
    variable: str
    first_cell: int | None
    second_cell: int | None
    fix_cell: int | None

    def message(self) -> str:
        def at(cell: int | None) -> str:
            return f" ({cell_label(cell)})" if cell is not None else ""

        return (
            f"steps {self.first}{at(self.first_cell)} and {self.second}{at(self.second_cell)} "
            f"both change `{self.variable}` and run in parallel, so {self.second} cannot see "
            f"the change {self.first} makes before it, as it does top to bottom"
        )

    def fix(self) -> str:
        cell = (
            f" ({cell_label(self.fix_cell)}, the first of step {self.second})"
            if self.fix_cell
            else ""
        )
        return f"add the tag `prev:{self.first}` to the first cell of step {self.second}{cell}"


def descendants(steps: dict[str, Step], names: set[str]) -> set[str]:
    """``names`` and every step that (transitively) comes after one of them."""
    out = set(names)
    changed = True
    while changed:
        changed = False
        for step in steps.values():
            if step.name not in out and _edges(step) & out:
                out.add(step.name)
                changed = True
    return out


def notebook_position(pipeline: Pipeline) -> dict[str, int]:
    order = sorted(pipeline.steps, key=lambda s: min(s.cells) if s.cells else -1)
    return {s.name: i for i, s in enumerate(order)}


def route(
    pipeline: Pipeline,
    steps: dict[str, Step],
    writer: str,
    writes: list[dict[str, Any]],
    observed: dict[str, list[dict[str, Any]]],
) -> tuple[list[Route], Conflict | None]:
    """New edges for ``writer``'s undeclared writes; ``steps`` is updated in place.

    ``observed`` holds the undeclared writes reported so far by other steps (for conflicts).
    """
    pos = notebook_position(pipeline)
    original = {s.name: s for s in pipeline.steps}
    routes: list[Route] = []
    for w in writes:
        if not w.get("saved"):
            continue
        var = str(w["variable"])
        conflict = _parallel_change(pos, original, writer, w, observed)
        if conflict is not None:
            return routes, conflict
        for name in w.get("later") or ():
            consumer = steps.get(name)
            if consumer is None:
                continue
            current = consumer.input_map.get(var)
            if current is not None and pos[current] > pos[writer]:
                continue  # a step after the writer already provides it
            inputs = [(v, p) for v, p in consumer.inputs if v != var] + [(var, writer)]
            after = consumer.after if writer in consumer.after else (*consumer.after, writer)
            steps[name] = replace(consumer, inputs=tuple(inputs), after=tuple(after))
            routes.append(Route(writer, name, var, w.get("cell")))
    return routes, None


def _parallel_change(
    pos: dict[str, int],
    original: dict[str, Step],
    writer: str,
    w: dict[str, Any],
    observed: dict[str, list[dict[str, Any]]],
) -> Conflict | None:
    """Another step, parallel to ``writer``, changed the same object in place without
    reading it under that name (it came as a member of a share group): re-running either
    with the other's value is impossible, since neither passes on what the other holds."""
    var = w["variable"]
    mine = set(w.get("later") or ())
    below = descendants(original, {writer})
    for other, writes in observed.items():
        if other == writer or other in below or writer in descendants(original, {other}):
            continue
        for o in writes:
            if o.get("variable") != var or o.get("how") != "changed":
                continue
            if other in mine or writer in set(o.get("later") or ()):
                continue  # a reader: re-run with the routed value instead
            first, second = sorted([(writer, w), (other, o)], key=lambda t: pos[t[0]])
            step2 = original[second[0]]
            return Conflict(
                first=first[0],
                second=second[0],
                variable=var,
                first_cell=first[1].get("cell"),
                second_cell=second[1].get("cell"),
                fix_cell=min(step2.cells) if step2.cells else None,
            )
    return None


# -- global state (runtime/state_watch.py) ----------------------------------------------
# A step reports, per RNG kind it changed, whether it *drew* (its result depends on the
# state it started with). Top to bottom a drawer continues from the state the latest
# earlier step (notebook order) that changed the kind left: the drawer now receives the
# kind from that step and runs after it. Steps that do not draw gain no edge, so they stay
# parallel.


def _at(cell: int | None) -> str:
    return f" ({cell_label(cell)})" if cell is not None else ""


@dataclass(frozen=True)
class StateRoute:
    """``consumer`` draws from ``kind`` and now receives it from ``writer``."""

    writer: str
    consumer: str
    kind: str
    cell: int | None  # where the writer changed it
    draw_cell: int | None  # where the consumer first drew
    writer_seen: bool  # the analysis saw the writer change it

    def message(self) -> str:
        if not self.writer_seen:
            return (
                f"step {self.consumer} draws from {self.kind} state, which {self.writer} "
                f"changed{_at(self.cell)} although the analysis did not see it; "
                f"{self.consumer} now receives it from {self.writer}"
            )
        return (
            f"step {self.consumer} draws from {self.kind} state{_at(self.draw_cell)} although "
            f"the analysis did not see it; {self.writer} changed it before{_at(self.cell)}, so "
            f"{self.consumer} now receives it from {self.writer}"
        )

    def record(self) -> dict[str, Any]:
        """The writer's entry in the run record (the shape of an observed write)."""
        return {
            "variable": self.kind,
            "how": "changed",
            "cell": self.cell,
            "later": [self.consumer],
            "prelude": False,
            "saved": False,
            "state": True,
        }


@dataclass(frozen=True)
class StateConflict:
    """A drawer runs before the step whose state it continues from top to bottom."""

    writer: str
    consumer: str
    kind: str
    cell: int | None
    draw_cell: int | None

    def message(self) -> str:
        return (
            f"step {self.consumer} draws from {self.kind} state{_at(self.draw_cell)}, which "
            f"{self.writer} changed{_at(self.cell)} before it top to bottom, but the pipeline "
            f"runs {self.consumer} before {self.writer}"
        )

    def fix(self) -> str:
        from ...runtime.state_watch import fix_for_reader

        return fix_for_reader(self.kind, self.consumer, None)


def route_state(
    pipeline: Pipeline,
    steps: dict[str, Step],
    facts: dict[str, list[dict[str, Any]]],
) -> tuple[list[StateRoute], StateConflict | None]:
    """New state edges for every known drawer; ``steps`` is updated in place.

    ``facts``: per step that ran (or was cached), the RNG kinds it changed
    (``StepOutcome.state_observed``)."""
    from ...runtime.state_watch import RNG_KINDS

    pos = notebook_position(pipeline)
    routes: list[StateRoute] = []
    for kind in RNG_KINDS:
        changed = {s: f for s, fs in facts.items() if s in pos for f in fs if f.get("kind") == kind}
        changers = sorted(changed, key=pos.__getitem__)
        for i, name in enumerate(changers):
            fact = changed[name]
            if not fact.get("drew") or i == 0:
                continue
            writer = changers[i - 1]  # the latest earlier step that changed it
            consumer = steps[name]
            if dict(consumer.state_inputs).get(kind) == writer:
                continue
            if writer in descendants(steps, {name}):  # an edge would close a cycle
                return routes, StateConflict(
                    writer, name, kind, changed[writer].get("cell"), fact.get("first_cell")
                )
            pairs = [(k, p) for k, p in consumer.state_inputs if k != kind] + [(kind, writer)]
            after = consumer.after if writer in consumer.after else (*consumer.after, writer)
            steps[name] = replace(consumer, state_inputs=tuple(pairs), after=tuple(after))
            routes.append(
                StateRoute(
                    writer=writer,
                    consumer=name,
                    kind=kind,
                    cell=changed[writer].get("cell"),
                    draw_cell=fact.get("first_cell"),
                    writer_seen=bool(changed[writer].get("declared")),
                )
            )
    return routes, None
