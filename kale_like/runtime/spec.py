"""The step spec: the plain-JSON description of one step that the runtime executes.

Every engine hands the same spec to :func:`kale_like.runtime.run_step` — the local engine
writes it to a file, the generated KFP component embeds it as a literal. Pure function.
"""

from __future__ import annotations

import builtins
from typing import Any

from ..model import Pipeline, Step

SPEC_VERSION = 1


def step_spec(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """JSON-able spec of ``step``: its cells, the prelude, and what it loads and saves."""
    prelude = pipeline.prelude_for(step)  # a composed step replays its own notebook's
    return {
        "version": SPEC_VERSION,
        "pipeline": pipeline.name,
        "step": step.name,
        "cells": [
            {"index": i, "source": src} for i, src in zip(step.cells, step.sources, strict=True)
        ],
        "prelude": {
            "imports": [
                {"index": i, "source": src}
                for i, src in zip(prelude.import_cells, prelude.imports, strict=True)
            ],
            "functions": [
                {"index": i, "source": src}
                for i, src in zip(prelude.function_cells, prelude.functions, strict=True)
            ],
        },
        "inputs": [var for var, _ in step.inputs],
        "outputs": list(step.outputs),
        "parameters": list(step.parameters),
        "state_inputs": [kind for kind, _ in step.state_inputs],
        "metrics": list(step.metrics),
        "report": step.settings.report is not False,
        # Write detection (runtime/observe.py): what the analysis saw the step write, and
        # which later steps would read each name from it had it written that name.
        "writes": sorted(step.writes),
        "later": later_readers(pipeline, step),
        "carry_environment": carry_environment(pipeline),
        # Observed global state (runtime/state_watch.py): what a KFP engine's step checks.
        "state": state_spec(pipeline, step),
    }


def notebook_order(pipeline: Pipeline) -> list[Step]:
    """Steps in notebook order (their first cell): the order of a top-to-bottom run."""
    return pipeline.reading_order()


def later_readers(pipeline: Pipeline, step: Step) -> dict[str, list[str]]:
    """Name -> later steps (notebook order) that would take it from ``step`` if ``step``
    wrote it: they read it, and their current source (a producer, the prelude, a parameter,
    nothing) comes before ``step``."""
    order = notebook_order(pipeline)
    pos = {s.name: i for i, s in enumerate(order)}
    here = pos[step.name]
    out: dict[str, list[str]] = {}
    for consumer in order[here + 1 :]:
        producers = consumer.input_map
        for var in consumer.reads:
            producer = producers.get(var)
            if producer is None and var in _BUILTINS:
                continue
            if producer is None or pos[producer] < here:
                out.setdefault(var, []).append(consumer.name)
    return dict(sorted(out.items()))


def state_spec(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """Per RNG kind: whether the analysis sees ``step`` change it (``outputs``); the latest
    earlier step (notebook order) it sees change a kind ``step`` does not receive
    (``earlier``: top to bottom, a draw in ``step`` continues from that step's state); and
    the later steps that would continue from an unseen change by ``step`` (``later``: they
    take the kind from no step, or from one before ``step``)."""
    from .state_watch import RNG_KINDS

    order = notebook_order(pipeline)
    pos = {s.name: i for i, s in enumerate(order)}
    here = pos[step.name]
    received = dict(step.state_inputs)
    earlier: dict[str, str] = {}
    later: dict[str, list[str]] = {}
    for kind in RNG_KINDS:
        if kind not in received:
            writers = [s.name for s in order[:here] if kind in s.state_outputs]
            if writers:
                earlier[kind] = writers[-1]
        if kind not in step.state_outputs:
            names = [
                c.name
                for c in order[here + 1 :]
                if pos.get(dict(c.state_inputs).get(kind, ""), -1) < here
            ]
            if names:
                later[kind] = names
    return {
        "outputs": [k for k in RNG_KINDS if k in step.state_outputs],
        "earlier": earlier,
        "later": later,
    }


def carry_environment(pipeline: Pipeline) -> bool:
    """``kubeflow_notebook.carry_environment: false`` turns carrying ``os.environ`` off."""
    meta = pipeline.metadata.get("kubeflow_notebook") if pipeline.metadata else None
    if not isinstance(meta, dict):
        meta = pipeline.metadata or {}
    return meta.get("carry_environment", True) is not False


_BUILTINS = frozenset(dir(builtins))
