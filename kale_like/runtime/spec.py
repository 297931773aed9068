"""The step spec: the plain-JSON description of one step that the runtime executes.

Every engine hands the same spec to :func:`kale_like.runtime.run_step` — the local engine
writes it to a file, the generated KFP component embeds it as a literal. Pure function.
"""

from __future__ import annotations

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
                for i, src in zip(
                    prelude.import_cells, prelude.imports, strict=True
                )
            ],
            "functions": [
                {"index": i, "source": src}
                for i, src in zip(
                    prelude.function_cells, prelude.functions, strict=True
                )
            ],
        },
        "inputs": [var for var, _ in step.inputs],
        "outputs": list(step.outputs),
        "parameters": list(step.parameters),
        "state_inputs": [kind for kind, _ in step.state_inputs],
        "metrics": list(step.metrics),
        "report": step.settings.report is not False,
    }
