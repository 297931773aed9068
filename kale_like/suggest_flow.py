"""The per-cell data flow of :func:`kale_like.suggest.analyse_cells`.

Every work cell is walked as its own step (as ``api/analyze.py`` walks steps); the flow
between them (variables, process state, files) gives each cell its predecessors, and the
cells' costs (seconds, bytes crossing) come from an earlier run or estimates.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from . import graph
from .analysis import BUILTIN_NAMES, files, parse_cell, parse_metrics, parse_parameters
from .analysis.kinds import param_kinds
from .analysis.walker import BlockFacts, FuncFacts, Walker
from .model import Parameter
from .notebook import Cell
from .suggest_cost import History, estimate_seconds, literal_bytes, value_bytes


@dataclass
class CellFacts:
    """What walking the prelude and each work cell (named ``c<index>``) found."""

    pre: Walker  # the imports and functions cells
    pre_cells: list[Cell]
    params: list[Parameter]
    names: list[str]  # per work cell, in order
    facts: dict[str, BlockFacts]
    kinds: dict[str, str]  # likely value kind of every name any cell bound
    star: bool


def walk_cells(
    special_cells: dict[str, list[Cell]], work: list[int], by_index: dict[int, Cell]
) -> CellFacts:
    """Walk the prelude, then every work cell in order as its own step."""
    pre = Walker()
    pre_cells = sorted(special_cells["imports"] + special_cells["functions"], key=lambda c: c.index)
    for c in pre_cells:
        pre.run(c.index, parse_cell(c.source, c.index, None))
    params: list[Parameter] = []
    for kind in ("pipeline-parameters", "injected-parameters"):
        for c in special_cells[kind]:
            params += parse_parameters(c.source, c.index, kind)
    known: dict[str, FuncFacts | None] = dict(pre.facts.functions)
    fixed_fns = {n for n, f in known.items() if f is not None}
    modmap = dict(pre.modmap)
    aliases: dict[str, frozenset[str]] = {}
    kinds = param_kinds(params)
    all_kinds: dict[str, str] = dict(kinds)
    facts: dict[str, BlockFacts] = {}
    star = pre.facts.star_import
    names = [f"c{i}" for i in work]
    for i, name in zip(work, names, strict=True):
        w = Walker(known=dict(known), modmap=modmap, fixed=fixed_fns, aliases=aliases, kinds=kinds)
        w.run(i, parse_cell(by_index[i].source, i, None))
        facts[name] = w.finish()
        known.update(w.facts.functions)
        modmap = dict(w.modmap)
        dead = set(w.facts.deleted)
        aliases = {a: r - dead for a, r in w.aliases.items() if a not in dead and r - dead}
        kinds = w.live_kinds()
        all_kinds.update(kinds)
        star = star or w.facts.star_import
    return CellFacts(pre, pre_cells, params, names, facts, all_kinds, star)


def cell_edges(
    cf: CellFacts, work: list[int], metric_cells: list[Cell], by_index: dict[int, Cell]
) -> tuple[dict[int, dict[int, list[str]]], dict[int, list[str]]]:
    """Per work cell, what each predecessor cell gives it (variables, ``<kind state>``,
    ``file:path``); and per cell the metrics it produces last."""
    names, facts = cf.names, cf.facts
    metric_names: list[tuple[str, int]] = []
    for c in metric_cells:
        metric_names += [(n, line) for n, line in parse_metrics(c.source, c.index, "metrics")]
    flow = graph.data_flow(
        names,
        facts,
        [p.name for p in cf.params],
        cf.pre.facts.writes,
        BUILTIN_NAMES,
        cf.star,
        final_reads=[n for n, _ in metric_names],
    )
    file_facts = files.pipeline_files(
        (c.source for c in cf.pre_cells),
        ((n, [(i, by_index[i].source)]) for i, n in zip(work, names, strict=True)),
    )
    file_flow = files.file_flow(names, file_facts)
    cell_of = dict(zip(names, work, strict=True))
    preds: dict[int, dict[int, list[str]]] = {i: {} for i in work}
    for n in names:
        me = preds[cell_of[n]]
        for v, p in flow.inputs[n].items():
            me.setdefault(cell_of[p], []).append(v)
        for k, p in flow.state_inputs[n].items():
            me.setdefault(cell_of[p], []).append(f"<{k} state>")
        for path, p in file_flow.inputs[n].items():
            me.setdefault(cell_of[p], []).append(f"file:{path}")
    metrics_of: dict[int, list[str]] = {}
    for m, _ in metric_names:
        writers = [cell_of[n] for n in names if m in facts[n].writes or m in facts[n].weak_writes]
        if writers:
            metrics_of.setdefault(writers[-1], []).append(m)
    return preds, metrics_of


@dataclass
class Costs:
    """Seconds per work cell (``measured``: from an earlier run) and bytes per variable."""

    seconds: dict[int, float]
    measured: set[int]
    var_bytes: dict[str, tuple[int, bool]]  # variable -> (bytes, measured)
    unsafe: set[str]  # iterators: consumed once, so never saved between steps


def work_costs(
    work: list[int],
    trees: dict[int, ast.Module | None],
    preds: dict[int, dict[int, list[str]]],
    kinds: dict[str, str],
    history: History | None,
) -> Costs:
    """What each cell costs and what each crossing variable weighs."""
    seconds: dict[int, float] = {}
    measured: set[int] = set()
    literals: dict[str, int] = {}
    for i in work:
        if history is not None and i in history.cell_seconds:
            seconds[i] = history.cell_seconds[i]
            measured.add(i)
        else:
            seconds[i] = estimate_seconds(trees.get(i))
        literals.update(literal_bytes(trees.get(i)))
    variables = {v for ps in preds.values() for vs in ps.values() for v in vs}
    var_bytes = {v: value_bytes(v, kinds, literals, history) for v in variables}
    unsafe = {v for v in variables if kinds.get(v) == "iter"}
    return Costs(seconds, measured, var_bytes, unsafe)
