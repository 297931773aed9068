"""The edges between steps: data flow (variables, state, files), ``prev:`` tags, run order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import graph
from ..analysis import BUILTIN_NAMES, files
from ..compose import Composition
from ..diagnostics import Diagnostic
from ..model import Parameter
from . import composition
from .edges import edge_diagnostics
from .placing import in_notebook, with_step
from .special import MetricLine, metric_lines
from .walk import Walk

__all__ = ["Edges", "data_edges", "edge_phase"]


@dataclass
class Edges:
    """Every step's predecessors and where its inputs come from, and the run order."""

    names: list[str]  # the steps in reading order
    notebook_of: dict[str, str | None]  # step -> its notebook's key (None: the main one)
    groups: dict[str, graph.StepGroup]
    metric_lines: dict[str | None, list[MetricLine]]  # per notebook
    flow: graph.Flow  # variables and state kinds: step -> name -> producer
    prev: dict[str, list[str]]  # the prev: tags of each step
    file_facts: dict[str, files.FileFacts]
    file_flow: files.FileFlow
    preds: dict[str, set[str]]  # every edge: prev:, data, state, files, reading order
    order: list[str]  # topological, ties in notebook order
    anc: graph.Ancestors  # through every edge (ranked in notebook order)
    prev_anc: graph.Ancestors  # through prev: tags and edges between notebooks


def data_edges(
    comp: Composition,
    walk: Walk,
    parameters: list[Parameter],
    path: str | None,
    diags: list[Diagnostic],
) -> Edges:
    """Infer the data edges and order the steps (cycles raise); appends to ``diags``."""
    names = [g.name for _, g in comp.steps]
    notebook_of = {g.name: part.key for part, g in comp.steps}
    lines = {part.key: metric_lines(part.lay) for part in comp.parts}
    flow = graph.data_flow(
        names,
        walk.facts,
        [p.name for p in parameters],
        {n for w in walk.preludes.values() for n in w.facts.writes},
        BUILTIN_NAMES,
        walk.star,
        final_reads=[m[0] for found in lines.values() for m in found],
    )
    if comp.composed:
        diags += composition.composed_flow(
            comp, flow, walk.facts, walk.preludes, parameters, walk.star
        )
    diags += [with_step(d, d.step or "", notebook_of.get(d.step or "")) for d in flow.diagnostics]
    prev = {g.name: list(dict.fromkeys(t for t, _, _ in g.prev)) for _, g in comp.steps}
    file_facts = files.pipeline_files(
        (c.source for c in walk.prelude_cells),
        ((g.name, [(c.index, c.source) for c in g.cells]) for _, g in comp.steps),
    )
    file_flow = files.file_flow(names, file_facts)
    preds = {
        s: set(prev[s])
        | set(flow.inputs[s].values())
        | set(flow.state_inputs[s].values())
        | set(file_flow.inputs[s].values())
        for s in names
    }
    groups = {g.name: g for _, g in comp.steps}
    preds, order, anc, prev_anc = _order(comp, names, preds, prev, notebook_of, walk, flow, path)
    return Edges(
        names, notebook_of, groups, lines, flow, prev, file_facts, file_flow,
        preds, order, anc, prev_anc,
    )  # fmt: skip


def _order(
    comp: Composition,
    names: list[str],
    preds: dict[str, set[str]],
    prev: Mapping[str, list[str]],
    notebook_of: Mapping[str, str | None],
    walk: Walk,
    flow: graph.Flow,
    path: str | None,
) -> tuple[dict[str, set[str]], list[str], graph.Ancestors, graph.Ancestors]:
    """The edges plus reading-order ones, the run order (a cycle raises, named), and the
    ancestors through every edge and through ``prev:`` (and between notebooks) only."""
    lay = comp.main.lay
    merged = graph.Layout(
        [g for _, g in comp.steps], lay.special, lay.skipped, lay.implicit, [], lay.roles
    )
    if comp.order_pairs:
        preds = composition.reading_order(comp, preds, merged, path)
    order = graph.topological_order(names, preds, merged, path)
    # A step tagged again below another step must not need that step's values (a cycle
    # through prev: tags is named by the tag, above).
    for part in comp.parts:
        graph.check_split_steps(part.lay.steps, walk.facts, flow.inputs, preds, part.path or path)
    # Ranked in notebook order: "the last ancestor above" is the highest bit (build, edges).
    anc = graph.ancestors(order, preds, rank=names)
    # Edges between notebooks are inferred: no prev: tag can name another notebook's step.
    crossing = {s: {p for p in preds[s] if notebook_of[p] != notebook_of[s]} for s in names}
    prev_anc = graph.ancestors(order, {s: set(prev[s]) | crossing[s] for s in names}, rank=names)
    return preds, order, anc, prev_anc


def edge_phase(comp: Composition, walk: Walk, edges: Edges) -> list[Diagnostic]:
    """Diagnostics about the edges: per notebook, between notebooks, through files."""
    diags: list[Diagnostic] = []
    e = edges
    for part in comp.parts:
        own_steps = [g.name for g in part.lay.steps]
        found = edge_diagnostics(
            e.names, e.flow, e.prev, e.anc, e.prev_anc, walk.facts, e.groups,
            part.lay.has_prev, own_steps,
        )  # fmt: skip
        diags += in_notebook(found, part.key)
    if comp.composed:
        diags += composition.crossing_diagnostics(comp, e.flow, e.groups, e.notebook_of)
    diags += files.file_diagnostics(
        e.file_flow, e.file_facts, e.anc, e.prev_anc, comp.main.lay.has_prev
    )
    return diags
