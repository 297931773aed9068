"""The pipeline builder: a read notebook -> :class:`~kale_like.model.Pipeline` (the IR).

Pure over its input (the only files read are the notebooks a composition references).
The phases, in order: lay out every notebook of a composition, settings (tag errors are
raised together), the preludes, the parameters, the steps' code, data edges and run order,
diagnostics about the edges, metrics, then the steps and the pipeline itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import compose
from ..analysis.settings import merge_settings, step_defaults
from ..analysis.volumes import notebook_volumes
from ..analysis.walker import BlockFacts
from ..compose import Composition
from ..diagnostics import Diagnostic
from ..envcheck import secret_env_diagnostics
from ..errors import InputError, TagError
from ..model import STATE_KINDS, Metric, Parameter, Pipeline, Step, StepSettings
from ..notebook import NotebookSource, combine_tag_errors
from ..tags import Tag, is_valid_image
from . import composition
from .flow import Edges, data_edges, edge_phase
from .names import pipeline_name_from, step_name_from
from .placing import diag_key, in_notebook
from .special import parameters as read_parameters
from .special import pipeline_metrics
from .walk import Walk, walk_preludes, walk_steps

__all__ = ["build"]

_Defaults = tuple[list[Tag], list[tuple[str, str]]]  # default tags, volumes


def build(
    nb: NotebookSource,
    path: str | None,
    *,
    pipeline_name: str | None = None,
    experiment: str | None = None,
    description: str | None = None,
    base_image: str | None = None,
) -> Pipeline:
    """The IR of ``nb`` (read from ``path``); keyword arguments override its metadata.

    Invalid notebooks raise an ``InputError`` naming the kind, cell, line and tag at
    fault; everything else becomes a diagnostic of the pipeline.
    """
    stem = Path(path).stem if path else ""
    diags: list[Diagnostic] = list(nb.diagnostics)
    # Every tag error of the notebook is reported at once (one edit-and-rerun round).
    tag_errors: list[TagError] = list(nb.tag_errors)
    # Every notebook of a composition (`notebook:NAME` cells), each laid out on its own.
    comp = compose.expand(nb, path, step_name_from(stem), tag_errors)
    for part in comp.parts:
        diags += in_notebook(part.lay.diagnostics, part.key)
    for part in comp.parts[1:]:
        diags += in_notebook(part.nb.diagnostics, part.key)
    settings = _settings(comp, nb.kale_metadata, path, diags, tag_errors)
    walk = walk_preludes(comp, diags)
    parameters = read_parameters(comp.main.lay)
    if comp.composed:
        parameters = composition.composed_parameters(comp, parameters)
    walk_steps(comp, walk, parameters, diags)
    edges = data_edges(comp, walk, parameters, path, diags)
    diags += edge_phase(comp, walk, edges)
    metrics = pipeline_metrics(comp, edges.metric_lines, edges.names, walk.facts, diags)
    steps = _steps(walk, edges, settings, metrics, diags)
    overrides = {
        "pipeline_name": pipeline_name,
        "experiment": experiment,
        "description": description,
        "base_image": base_image,
    }
    return _pipeline(nb, comp, path, steps, parameters, metrics, diags, overrides)


def _settings(
    comp: Composition,
    meta: dict[str, Any],
    path: str | None,
    diags: list[Diagnostic],
    tag_errors: list[TagError],
) -> dict[str, StepSettings]:
    """Each step's settings. First, as a conflict is an input error whatever the code does.
    The main notebook's defaults apply to every step (Kale), a referenced one's to its own."""
    defaults = step_defaults(meta, path)
    volumes = notebook_volumes(meta, diags, path)
    part_defaults: dict[str | None, _Defaults] = {None: (defaults, volumes)}
    for part in comp.parts[1:]:
        sub_diags: list[Diagnostic] = []
        sub_meta = part.nb.kale_metadata
        sub_volumes = notebook_volumes(sub_meta, sub_diags, part.path)
        part_defaults[part.key] = (
            [*defaults, *step_defaults(sub_meta, part.path)],
            list(dict.fromkeys([*volumes, *sub_volumes])),
        )
        diags += in_notebook(sub_diags, part.key)
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
    return settings


def _steps(
    walk: Walk,
    edges: Edges,
    settings: Mapping[str, StepSettings],
    metrics: list[Metric],
    diags: list[Diagnostic],
) -> list[Step]:
    """The steps of the IR in run order; appends the global-state infos to ``diags``."""
    facts, names = walk.facts, edges.names
    index = {s: i for i, s in enumerate(names)}
    metric_of: dict[str, list[str]] = {}
    for m in metrics:
        metric_of.setdefault(m.step, []).append(m.name)
    consumed: dict[str, set[str]] = {s: set() for s in names}
    for s in names:
        for v, producer in edges.flow.inputs[s].items():
            consumed[producer].add(v)
    # The steps changing each kind of state, as a mask: a step receives each kind from its
    # last ancestor (notebook order, ``anc``'s rank) that changes it.
    state_writers = {
        kind: edges.anc.mask(s for s in names if kind in facts[s].state_writes)
        for kind in STATE_KINDS
    }
    steps: list[Step] = []
    for s in edges.order:
        f = facts[s]
        outs = consumed[s] | set(metric_of.get(s, ()))
        state_in = []
        for kind in STATE_KINDS:
            writer = edges.anc.latest(s, state_writers[kind])
            if writer is not None:
                state_in.append((kind, writer))
        if f.state_writes:
            diags.append(_global_state(s, f))
        prelude = walk.preludes[edges.notebook_of[s]].facts
        file_facts = edges.file_facts[s]
        steps.append(
            Step(
                name=s,
                cells=tuple(c.index for c in edges.groups[s].cells),
                sources=tuple(c.source for c in edges.groups[s].cells),
                after=tuple(sorted(edges.preds[s], key=index.__getitem__)),
                inputs=tuple(edges.flow.inputs[s].items()),
                outputs=tuple(v for v in [*f.writes, *f.weak_writes] if v in outs),
                parameters=tuple(edges.flow.parameters[s]),
                state_inputs=tuple(state_in),
                state_outputs=tuple(k for k in STATE_KINDS if k in f.state_writes),
                metrics=tuple(metric_of.get(s, ())),
                modules=tuple(sorted(prelude.modules | f.modules)),
                settings=settings[s],
                reads=tuple(sorted({*f.reads, *f.soft_reads})),
                writes=tuple(sorted({*f.writes, *f.weak_writes, *f.deleted})),
                notebook=edges.notebook_of[s],
                file_reads=tuple(file_facts.reads),
                file_writes=tuple(file_facts.writes),
                file_inputs=tuple(edges.file_flow.inputs[s].items()),
            )
        )
    return steps


def _global_state(s: str, f: BlockFacts) -> Diagnostic:
    kinds = [k for k in STATE_KINDS if k in f.state_writes]
    cell, line = next(iter(f.state_writes.values()))
    return Diagnostic(
        "info",
        "global-state",
        f"step {s!r} changes process-global state ({', '.join(kinds)}); later steps receive it",
        cell,
        line,
        None,
        s,
    )


def _pipeline(
    nb: NotebookSource,
    comp: Composition,
    path: str | None,
    steps: list[Step],
    parameters: list[Parameter],
    metrics: list[Metric],
    diags: list[Diagnostic],
    overrides: Mapping[str, str | None],
) -> Pipeline:
    """The pipeline: name, image, experiment from ``overrides`` else the notebook metadata."""
    meta = nb.kale_metadata
    lay = comp.main.lay
    diags += secret_env_diagnostics(steps, meta.get("carry_environment", True) is not False)
    name = overrides["pipeline_name"] or meta.get("pipeline_name") or ""
    clean = pipeline_name_from(str(name) or (Path(path).stem if path else ""))
    if name and clean != name:
        diags.append(
            Diagnostic("info", "renamed-pipeline", f"pipeline name {name!r} is used as {clean!r}")
        )
    image = overrides["base_image"] or meta.get("base_image") or meta.get("docker_image") or None
    if image is not None and not is_valid_image(image):
        raise InputError(
            f"invalid base image {image!r}",
            kind="bad-image",
            path=path,
            fix="use a reference like python:3.11-slim or registry.example.com/team/img:1.0",
        )
    exp = overrides["experiment"] or meta.get("experiment_name")
    if not exp and isinstance(meta.get("experiment"), Mapping):
        exp = meta["experiment"].get("name")
    diags += composition.sub_base_images(comp, image)
    diags.sort(key=diag_key)
    return Pipeline(
        name=clean,
        steps=tuple(steps),
        description=str(overrides["description"] or meta.get("pipeline_description") or ""),
        experiment=str(exp) if exp else None,
        parameters=tuple(parameters),
        metrics=tuple(metrics),
        prelude=composition.prelude(lay),
        base_image=image,
        diagnostics=tuple(diags),
        notebook_path=path,
        notebook_digest=composition.digest(comp),
        metadata=meta,
        python_version=nb.python_version,
        cells=tuple(lay.roles),
        preludes=tuple((p.key, composition.prelude(p.lay)) for p in comp.parts[1:] if p.key),
        reading=tuple(g.name for _, g in comp.steps) if comp.composed else (),
    )
