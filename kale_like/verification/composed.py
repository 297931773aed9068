"""The top-to-bottom ground truth of a composition (``notebook:NAME`` cells): one notebook.

Kale runs a referenced notebook's steps after its own imports and functions; a
top-to-bottom run of a composition is therefore, in one kernel: the parameters (the
pipeline's, the main notebook's value winning), the main notebook's imports and functions,
then the units in the main notebook's reading order, each referenced notebook's imports and
functions right before its first step. :func:`flatten` builds that notebook from the IR
(every cell's source is there) and a view of the pipeline whose steps index its cells, so
the instrumented run and the comparison work on it unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..model import Pipeline, Prelude


def _cell(source: str, tags: list[str]) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags},
        "outputs": [],
        "source": source,
    }


def flatten(
    pipeline: Pipeline, metadata: dict[str, Any]
) -> tuple[Pipeline, dict[str, Any], list[tuple[str | None, int]]]:
    """(view pipeline, flattened notebook, each flat cell's (notebook, original cell))."""
    cells: list[dict[str, Any]] = []
    origin: list[tuple[str | None, int]] = []
    params = []
    if pipeline.parameters:
        src = "\n".join(f"{p.name} = {p.default!r}" for p in pipeline.parameters)
        cells.append(_cell(src, ["parameters"]))
        origin.append((None, pipeline.parameters[0].cell or 0))
        params = [replace(p, cell=0, line=i + 1) for i, p in enumerate(pipeline.parameters)]

    def add_prelude(key: str | None, prelude: Prelude) -> list[int]:
        at = []
        for i, src in [
            *zip(prelude.import_cells, prelude.imports, strict=False),
            *zip(prelude.function_cells, prelude.functions, strict=False),
        ]:
            at.append(len(cells))
            cells.append(_cell(src, []))
            origin.append((key, i))
        return at

    main_prelude = add_prelude(None, pipeline.prelude)
    preludes = dict(pipeline.preludes)
    started: set[str | None] = {None}
    flat: dict[str, list[int]] = {}
    order = pipeline.reading_order()
    # Consecutive steps of one notebook run their cells in that notebook's order.
    runs: list[list[Any]] = []
    for step in order:
        if runs and runs[-1][0].notebook == step.notebook:
            runs[-1].append(step)
        else:
            runs.append([step])
    for run in runs:
        key = run[0].notebook
        if key not in started:
            started.add(key)
            add_prelude(key, preludes.get(key or "", Prelude()))
        placed = sorted(
            ((c, src, s.name) for s in run for c, src in zip(s.cells, s.sources, strict=True)),
            key=lambda t: t[0],
        )
        for c, src, name in placed:
            flat.setdefault(name, []).append(len(cells))
            cells.append(_cell(src, []))
            origin.append((key, c))
    every = [pipeline.prelude, *preludes.values()]
    view = replace(
        pipeline,
        steps=tuple(replace(s, cells=tuple(flat[s.name]), notebook=None) for s in pipeline.steps),
        parameters=tuple(params),
        # Every notebook's imports/functions (the comparison replays them to load values);
        # only the main notebook's cells are hoisted (the others are already in place).
        prelude=Prelude(
            imports=tuple(src for p in every for src in p.imports),
            functions=tuple(src for p in every for src in p.functions),
            import_cells=tuple(main_prelude[: len(pipeline.prelude.imports)]),
            function_cells=tuple(main_prelude[len(pipeline.prelude.imports) :]),
        ),
        preludes=(),
        reading=(),
        cells=(),
    )
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": metadata, "cells": cells}
    return view, nb, origin
