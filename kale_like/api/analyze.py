"""``load_pipeline`` / ``analyze``: a tagged notebook -> the pipeline IR (+ diagnostics).

The functional core of every verb: read and validate the notebook, group cells into steps,
analyse each step's code, infer data edges, order the steps and assemble
:class:`~kale_like.model.Pipeline`. Invalid notebooks raise an ``InputError`` with the
kind, cell, line and tag at fault; everything else becomes a diagnostic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import compose, graph
from ..analysis import BUILTIN_NAMES, files, parse_cell, parse_metrics, parse_parameters
from ..analysis.kinds import param_kinds
from ..analysis.settings import merge_settings, notebook_volumes, step_defaults
from ..analysis.walker import BlockFacts, FuncFacts, Walker
from ..diagnostics import Diagnostic
from ..envcheck import secret_env_diagnostics
from ..errors import AnalysisError, InputError, KaleError, TagError
from ..model import STATE_KINDS, Metric, Parameter, Pipeline, Step
from ..notebook import Cell, NotebookSource, combine_tag_errors, read_notebook
from ..tags import is_valid_image
from . import analyze_compose as composed

__all__ = ["analyze", "check_pipeline", "load_pipeline", "pipeline_name_from", "step_name_from"]

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def analyze(notebook: Any, **overrides: Any) -> dict[str, Any]:
    """The JSON contract of ``kale-like analyze --format json``."""
    return load_pipeline(notebook, **overrides).to_json()


def check_pipeline(pipeline: Pipeline) -> None:
    """Raise :class:`AnalysisError` if the analysis found any error-severity diagnostic."""
    errors = [d for d in pipeline.diagnostics if d.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AnalysisError(
            first.message + more,
            kind=first.kind,
            cell=first.cell,
            line=first.line,
            fix=first.fix,
            path=pipeline.notebook_path,
            diagnostics=errors,
        )


def pipeline_name_from(stem: str) -> str:
    """A KFP-friendly pipeline name (lower-case, dashes) from a file stem."""
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return name[:100].strip("-") or "pipeline"


def step_name_from(stem: str) -> str:
    """A valid step name from a file stem, for notebooks without step tags."""
    name = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_").lstrip("0123456789_")
    return name or "main"


def load_pipeline(
    notebook: Any,
    *,
    pipeline_name: str | None = None,
    experiment: str | None = None,
    description: str | None = None,
    base_image: str | None = None,
    path: str | None = None,
    run_root: str | Path | None = None,
) -> Pipeline:
    """Analyse a notebook (path, ``NotebookNode`` or dict) into the pipeline IR.

    Keyword arguments override the notebook's ``kubeflow_notebook`` metadata when given.
    Writes earlier local runs observed for the current code (stored under ``run_root``,
    default ``.kale_like/`` beside the notebook) become observed edges (api/observed.py).
    """
    nb_path = path or (str(notebook) if isinstance(notebook, (str, Path)) else None)
    try:
        nb = read_notebook(notebook, collect_tag_errors=True)
        pipeline = _build(nb, nb_path, pipeline_name, experiment, description, base_image)
        from .observed import with_observed

        return with_observed(pipeline, run_root)
    except KaleError as err:
        err.path = err.path or nb_path
        raise
    except RecursionError:
        raise AnalysisError(
            "the notebook's code is nested too deeply to analyse",
            kind="too-complex",
            path=nb_path,
            fix="split very long expressions or deeply nested code",
        ) from None


def _build(
    nb: NotebookSource,
    path: str | None,
    pipeline_name: str | None,
    experiment: str | None,
    description: str | None,
    base_image: str | None,
) -> Pipeline:
    meta = nb.kale_metadata
    stem = Path(path).stem if path else ""
    diags: list[Diagnostic] = list(nb.diagnostics)
    # Every tag error of the notebook is reported at once (one edit-and-rerun round).
    tag_errors: list[TagError] = list(nb.tag_errors)
    # Every notebook of a composition (`notebook:NAME` cells), each laid out on its own.
    comp = compose.expand(nb, path, step_name_from(stem), tag_errors)
    lay = comp.main.lay
    for part in comp.parts:
        diags += composed.in_notebook(part.lay.diagnostics, part.key)
    for part in comp.parts[1:]:
        diags += composed.in_notebook(part.nb.diagnostics, part.key)
    notebook_of = {g.name: part.key for part, g in comp.steps}

    # Settings first: a conflict is an input error whatever the code does. The main
    # notebook's defaults apply to every step (Kale), a referenced notebook's to its own.
    defaults = step_defaults(meta, path)
    volumes = notebook_volumes(meta, diags, path)
    part_defaults = {None: (defaults, volumes)}
    for part in comp.parts[1:]:
        sub_diags: list[Diagnostic] = []
        sub_meta = part.nb.kale_metadata
        sub_volumes = notebook_volumes(sub_meta, sub_diags, part.path)
        part_defaults[part.key] = (
            [*defaults, *step_defaults(sub_meta, part.path)],
            list(dict.fromkeys([*volumes, *sub_volumes])),
        )
        diags += composed.in_notebook(sub_diags, part.key)
    settings = {}
    for part, g in comp.steps:
        try:
            settings[g.name] = merge_settings(
                [(t, c.index) for c in g.cells for t in c.tags], *part_defaults[part.key], part.path
            )
        except TagError as err:
            tag_errors.append(err)
    if tag_errors:
        raise combine_tag_errors(tag_errors, path)

    # Prelude: imports and functions cells, replayed in every step (of their notebook).
    preludes: dict[str | None, Walker] = {}
    prelude_cells: list[Cell] = []
    for part in comp.parts:
        special = part.lay.special
        own = Walker()
        with composed.located(part):
            for c in sorted(special["imports"] + special["functions"], key=lambda c: c.index):
                own.run(c.index, parse_cell(c.source, c.index, _tag_text(c)))
                prelude_cells.append(c)
        diags += composed.in_notebook(own.facts.diagnostics, part.key)
        preludes[part.key] = own
    pre = preludes[None]
    known: dict[str, FuncFacts | None] = dict(pre.facts.functions)
    fixed = {n for n, f in known.items() if f is not None}
    modmap = dict(pre.modmap)
    star = any(w.facts.star_import for w in preludes.values())

    parameters = _parameters(lay)
    if comp.composed:
        parameters = composed.composed_parameters(comp, parameters)

    # Steps, in reading order: each sees the functions/imports bound above it. A
    # referenced notebook's steps see its own imports and functions (replayed before them).
    facts: dict[str, BlockFacts] = {}
    aliases: dict[str, frozenset[str]] = {}
    value_kinds = param_kinds(parameters)  # likely value kinds, carried like the aliases
    current: str | None = None
    for part, g in comp.steps:
        if part.key != current:
            current, own = part.key, preludes[part.key]
            known.update(own.facts.functions)
            fixed = {n for n, f in own.facts.functions.items() if f is not None}
            modmap = {**modmap, **own.modmap}
        w = Walker(
            known=dict(known), modmap=modmap, fixed=fixed, aliases=aliases, kinds=value_kinds
        )
        step_tag = next((t.text for c in g.cells for t in c.tags if t.kind == "step"), None)
        with composed.located(part):
            for c in g.cells:
                w.run(c.index, parse_cell(c.source, c.index, _tag_text(c) or step_tag))
        facts[g.name] = w.finish()
        known.update(w.facts.functions)
        modmap = dict(w.modmap)
        aliases = _live_aliases(w)
        value_kinds = w.live_kinds()
        star = star or w.facts.star_import
        for d in w.facts.diagnostics:
            diags.append(_with_step(d, g.name, part.key))

    names = [g.name for _, g in comp.steps]
    metric_lines = {part.key: _metric_lines(part.lay) for part in comp.parts}
    flow = graph.data_flow(
        names,
        facts,
        [p.name for p in parameters],
        {n for w in preludes.values() for n in w.facts.writes},
        BUILTIN_NAMES,
        star,
        final_reads=[m[0] for lines in metric_lines.values() for m in lines],
    )
    if comp.composed:
        diags += composed.composed_flow(comp, flow, facts, preludes, parameters, star)
    diags += [_with_step(d, d.step or "", notebook_of.get(d.step or "")) for d in flow.diagnostics]
    prev = {g.name: list(dict.fromkeys(t for t, _, _ in g.prev)) for _, g in comp.steps}
    file_facts = files.pipeline_files(
        (c.source for c in prelude_cells),
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
    merged = graph.Layout(
        [g for _, g in comp.steps], lay.special, lay.skipped, lay.implicit, [], lay.roles
    )
    if comp.order_pairs:
        preds = composed.reading_order(comp, preds, merged, path)
    order = graph.topological_order(names, preds, merged, path)
    # A step tagged again below another step must not need that step's values (a cycle
    # through prev: tags is named by the tag, above).
    for part in comp.parts:
        graph.check_split_steps(part.lay.steps, facts, flow.inputs, preds, part.path or path)
    anc = graph.ancestors(order, preds)
    # Edges between notebooks are inferred: no prev: tag can name another notebook's step.
    crossing = {s: {p for p in preds[s] if notebook_of[p] != notebook_of[s]} for s in names}
    prev_anc = graph.ancestors(order, {s: set(prev[s]) | crossing[s] for s in names})
    index = {s: i for i, s in enumerate(names)}
    groups = {g.name: g for _, g in comp.steps}
    for part in comp.parts:
        own_steps = [g.name for g in part.lay.steps]
        edge_diags = _edge_diagnostics(
            names, flow, prev, anc, prev_anc, facts, groups, part.lay.has_prev, own_steps
        )
        diags += composed.in_notebook(edge_diags, part.key)
    if comp.composed:
        diags += composed.crossing_diagnostics(comp, flow, groups, notebook_of)
    diags += files.file_diagnostics(file_flow, file_facts, anc, prev_anc, lay.has_prev)

    metrics: list[Metric] = []
    for part in reversed(comp.parts):  # the main notebook's metric wins a name
        found, metric_diags = _metrics(metric_lines[part.key], names, facts)
        metrics = [*(m for m in metrics if m.name not in {n.name for n in found}), *found]
        diags += composed.in_notebook(metric_diags, part.key)
    metric_of: dict[str, list[str]] = {}
    for m in metrics:
        metric_of.setdefault(m.step, []).append(m.name)

    consumed: dict[str, set[str]] = {s: set() for s in names}
    for s in names:
        for v, producer in flow.inputs[s].items():
            consumed[producer].add(v)
    steps: list[Step] = []
    for s in order:
        f = facts[s]
        outs = consumed[s] | set(metric_of.get(s, ()))
        state_in = []
        for kind in STATE_KINDS:
            writers = [a for a in anc[s] if kind in facts[a].state_writes]
            if writers:
                state_in.append((kind, max(writers, key=index.__getitem__)))
        if f.state_writes:
            kinds = [k for k in STATE_KINDS if k in f.state_writes]
            cell, line = next(iter(f.state_writes.values()))
            diags.append(
                Diagnostic(
                    "info",
                    "global-state",
                    f"step {s!r} changes process-global state ({', '.join(kinds)}); later steps"
                    " receive it",
                    cell,
                    line,
                    None,
                    s,
                )
            )
        after = sorted(preds[s], key=index.__getitem__)
        steps.append(
            Step(
                name=s,
                cells=tuple(c.index for c in groups[s].cells),
                sources=tuple(c.source for c in groups[s].cells),
                after=tuple(after),
                inputs=tuple(flow.inputs[s].items()),
                outputs=tuple(v for v in [*f.writes, *f.weak_writes] if v in outs),
                parameters=tuple(flow.parameters[s]),
                state_inputs=tuple(state_in),
                state_outputs=tuple(k for k in STATE_KINDS if k in f.state_writes),
                metrics=tuple(metric_of.get(s, ())),
                modules=tuple(sorted(preludes[notebook_of[s]].facts.modules | f.modules)),
                settings=settings[s],
                reads=tuple(sorted({*f.reads, *f.soft_reads})),
                writes=tuple(sorted({*f.writes, *f.weak_writes, *f.deleted})),
                notebook=notebook_of[s],
                file_reads=tuple(file_facts[s].reads),
                file_writes=tuple(file_facts[s].writes),
                file_inputs=tuple(file_flow.inputs[s].items()),
            )
        )

    diags += secret_env_diagnostics(steps, meta.get("carry_environment", True) is not False)
    name = pipeline_name or meta.get("pipeline_name") or ""
    clean = pipeline_name_from(str(name) or stem)
    if name and clean != name:
        diags.append(
            Diagnostic("info", "renamed-pipeline", f"pipeline name {name!r} is used as {clean!r}")
        )
    image = base_image or meta.get("base_image") or meta.get("docker_image") or None
    if image is not None and not is_valid_image(image):
        raise InputError(
            f"invalid base image {image!r}",
            kind="bad-image",
            path=path,
            fix="use a reference like python:3.11-slim or registry.example.com/team/img:1.0",
        )
    exp = experiment or meta.get("experiment_name")
    if not exp and isinstance(meta.get("experiment"), Mapping):
        exp = meta["experiment"].get("name")
    diags += composed.sub_base_images(comp, image)
    diags.sort(key=_diag_key)
    return Pipeline(
        name=clean,
        steps=tuple(steps),
        description=str(description or meta.get("pipeline_description") or ""),
        experiment=str(exp) if exp else None,
        parameters=tuple(parameters),
        metrics=tuple(metrics),
        prelude=composed.prelude(lay),
        base_image=image,
        diagnostics=tuple(diags),
        notebook_path=path,
        notebook_digest=composed.digest(comp),
        metadata=meta,
        python_version=nb.python_version,
        cells=tuple(lay.roles),
        preludes=tuple((p.key, composed.prelude(p.lay)) for p in comp.parts[1:] if p.key),
        reading=tuple(names) if comp.composed else (),
    )


def _live_aliases(w: Walker) -> dict[str, frozenset[str]]:
    # An alias dies when either name is deleted; rebinding is handled by the walker.
    dead = set(w.facts.deleted)
    return {a: roots - dead for a, roots in w.aliases.items() if a not in dead and roots - dead}


def _tag_text(cell: Cell) -> str | None:
    return cell.tags[0].text if cell.tags else None


def _with_step(d: Diagnostic, step: str, notebook: str | None = None) -> Diagnostic:
    return replace(d, step=step or None, notebook=notebook)


def _diag_key(d: Diagnostic) -> tuple[Any, ...]:
    where = (d.notebook is not None, d.notebook or "")  # the main notebook's first
    return (*where, d.cell is None, d.cell or 0, d.line or 0, _SEVERITY_RANK[d.severity], d.kind)


def _parameters(lay: graph.Layout) -> list[Parameter]:
    params: dict[str, Parameter] = {}
    for kind in ("pipeline-parameters", "injected-parameters"):
        for c in lay.special[kind]:
            tag = c.first(kind)
            for p in parse_parameters(c.source, c.index, tag.text if tag else kind):
                params[p.name] = p
    return list(params.values())


def _metric_lines(lay: graph.Layout) -> list[tuple[str, int, int]]:
    """(name, cell, line) of every ``print(name)`` of the metrics cells."""
    out = []
    for c in lay.special["pipeline-metrics"]:
        tag = c.first("pipeline-metrics")
        for name, line in parse_metrics(c.source, c.index, tag.text if tag else "metrics"):
            out.append((name, c.index, line))
    return out


def _metrics(
    lines: list[tuple[str, int, int]], names: list[str], facts: Mapping[str, BlockFacts]
) -> tuple[list[Metric], list[Diagnostic]]:
    metrics: dict[str, Metric] = {}
    diags: list[Diagnostic] = []
    for name, cell, line in lines:
        writers = [s for s in names if name in facts[s].writes or name in facts[s].weak_writes]
        if not writers:
            diags.append(
                Diagnostic(
                    "error",
                    "undefined-metric",
                    f"metric {name!r} is not a variable any step defines",
                    cell,
                    line,
                    "print a variable that a step assigns",
                )
            )
            continue
        metrics[name] = Metric(name, writers[-1], cell, line)
    return list(metrics.values()), diags


def _edge_diagnostics(
    names: list[str],
    flow: graph.Flow,
    prev: Mapping[str, list[str]],
    anc: Mapping[str, set[str]],
    prev_anc: Mapping[str, set[str]],
    facts: Mapping[str, BlockFacts],
    groups: Mapping[str, graph.StepGroup],
    has_prev: bool,
    only: list[str] | None = None,
) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for s in names if only is None else only:
        carried: dict[str, list[str]] = {}
        for v, p in flow.inputs[s].items():
            carried.setdefault(p, []).append(v)
        for kind, p in flow.state_inputs[s].items():
            carried.setdefault(p, []).append(f"<{kind} state>")
        for p, vs in carried.items():
            if p in prev_anc[s]:
                continue
            cell, line = flow.locations.get((s, vs[0]), (groups[s].position, None))
            what = ", ".join(vs)
            if has_prev:
                diags.append(
                    Diagnostic(
                        "warning",
                        "missing-dependency",
                        f"step {s!r} reads {what} from step {p!r} but has no prev: path to it;"
                        " the edge was added",
                        cell,
                        line,
                        f"add the tag prev:{p}",
                        s,
                    )
                )
            else:
                diags.append(
                    Diagnostic(
                        "info",
                        "inferred-dependency",
                        f"step {s!r} runs after {p!r} because it reads {what}",
                        cell,
                        line,
                        None,
                        s,
                    )
                )
        for p in prev[s]:
            if p not in carried:
                diags.append(
                    Diagnostic(
                        "info",
                        "prev-without-data",
                        f"step {s!r} follows {p!r} (prev:{p}) but receives no variable from it",
                        groups[s].position,
                        None,
                        None,
                        s,
                    )
                )
        for v, p in flow.inputs[s].items():
            rivals = [
                w
                for w in names
                if w != p
                and v in facts[w].writes
                and w in anc[s]
                and w not in anc[p]
                and p not in anc[w]
            ]
            if rivals:
                cell, line = flow.locations.get((s, v), (groups[s].position, None))
                diags.append(
                    Diagnostic(
                        "warning",
                        "ambiguous-definition",
                        f"step {s!r} reads {v!r}, written by parallel steps {rivals[0]!r} and"
                        f" {p!r}; using {p!r} (the later in the notebook)",
                        cell,
                        line,
                        f"rename {v!r} in one branch, or chain the branches with prev:",
                        s,
                    )
                )
    return diags
