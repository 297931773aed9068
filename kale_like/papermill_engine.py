"""papermill engine ``kale_like``: ``papermill --engine kale_like in.ipynb out.ipynb -p alpha 0.5``.

papermill parameterizes the notebook as usual (an ``injected-parameters`` cell after the
``parameters`` cell, which analysis treats as overriding the defaults); this engine then runs
it as a pipeline on the local engine (independent steps in parallel, unchanged steps from the
cache; run records under ``.kale_like/`` beside the input notebook, or ``KALE_LIKE_RUN_ROOT``)
and fills every cell's outputs, in the original cell order, from the executed step notebooks
the runtime writes. A failing step leaves its error output in its cell, so papermill reports
it like any cell error.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from papermill.engines import Engine

if TYPE_CHECKING:
    from .model import Pipeline

RUN_ROOT_ENV = "KALE_LIKE_RUN_ROOT"


def _run_root(input_path: Any) -> Path | None:
    env = os.environ.get(RUN_ROOT_ENV)
    if env:
        return Path(env)
    if isinstance(input_path, (str, os.PathLike)) and "://" not in str(input_path):
        return Path(input_path).absolute().parent / ".kale_like"
    return None


def step_outputs(
    run_dir: str | None, steps: list[str], pipeline: Pipeline | None = None
) -> dict[int, dict[str, Any]]:
    """Notebook cell index -> executed cell (outputs, count) from each step's notebook.

    Prelude cells run in every step; the first step (in pipeline order) gives their outputs,
    as a top-to-bottom run executes them once. With ``pipeline``, cells are placed by their
    role and position in the step: a step taken from the cache carries the cell indices of
    the run that filled it, which differ once a cell was inserted above (papermill's
    ``injected-parameters`` cell, an edit elsewhere in the notebook).
    """
    cells: dict[int, dict[str, Any]] = {}
    if not run_dir:
        return cells
    for step in steps:
        path = Path(run_dir) / "steps" / step / "step.ipynb"
        if not path.is_file():
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        executed = nb.get("cells", [])
        current = _current_indices(pipeline, step, executed) if pipeline is not None else None
        for position, cell in enumerate(executed):
            index = cell.get("metadata", {}).get("kale_like", {}).get("index")
            if current is not None:
                index = current[position]
            if index is not None and index not in cells:
                cells[index] = cell
    return cells


def _current_indices(
    pipeline: Pipeline, step: str, executed: list[dict[str, Any]]
) -> list[int | None] | None:
    """This notebook's index of each executed cell, by role and order (None: keep recorded)."""
    wanted = {
        "imports": list(pipeline.prelude.import_cells),
        "functions": list(pipeline.prelude.function_cells),
        "step": list(pipeline.step(step).cells),
    }
    roles = [c.get("metadata", {}).get("kale_like", {}).get("role") for c in executed]
    if any(roles.count(role) != len(indices) for role, indices in wanted.items()):
        return None  # not the shape this pipeline runs: trust the recorded indices
    seen = dict.fromkeys(wanted, 0)
    out: list[int | None] = []
    for role in roles:
        if role in wanted:
            out.append(wanted[role][seen[role]])
            seen[role] += 1
        else:
            out.append(None)
    return out


def _metric_lines(source: str, metrics: dict[str, Any]) -> str:
    """What the metrics cell prints top to bottom: one ``print(name)`` line per metric."""
    out = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    for node in tree.body:
        call = getattr(node, "value", None)
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "print"
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
            and call.args[0].id in metrics
        ):
            out.append(f"{metrics[call.args[0].id]}\n")
    return "".join(out)


class KaleLikeEngine(Engine):
    """Runs a papermill-parameterized notebook as a cached, parallel kale_like pipeline."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        from .api.analyze import load_pipeline
        from .api.run import run

        input_path = kwargs.get("input_path")
        path = (
            str(Path(input_path).absolute()) if isinstance(input_path, (str, os.PathLike)) else None
        )
        pipeline = load_pipeline(nb_man.nb, path=path)
        if path and not pipeline.notebook_path:
            pipeline = dataclasses.replace(pipeline, notebook_path=path)
        jobs = kwargs.get("jobs")
        root = _run_root(input_path)
        # The injected-parameters cell already holds the values: analysis read them.
        result = run(pipeline, run_root=root, jobs=jobs, use_cache=kwargs.get("use_cache", True))
        nb_man.nb.metadata.setdefault("kale_like", {}).update(
            {"run_id": result.run_id, "run_dir": result.run_dir, "status": result.status}
        )
        # Cells of referenced notebooks (composition) are not cells of this notebook.
        own = [s.name for s in pipeline.steps if s.notebook is None]
        executed = step_outputs(result.run_dir, own, pipeline)
        metric_cells = {m.cell for m in pipeline.metrics if m.cell is not None}
        failed = result.failed_step
        stop_at: int | None = None
        if failed is not None:
            # Top to bottom stops at the failing cell: nothing after it runs.
            stop_at = (
                failed.cell
                if failed.cell is not None
                else max(pipeline.step(failed.name).cells, default=None)
            )
        count = 0
        for index, cell in enumerate(nb_man.nb.cells):
            if cell.get("cell_type") != "code":
                continue
            if "skip" in (cell.get("metadata", {}).get("tags", []) or []):
                continue
            if stop_at is not None and index > stop_at:
                break
            nb_man.cell_start(cell, index)
            count += 1
            cell.execution_count = count
            executed_cell = executed.get(index)
            if executed_cell is not None:
                cell.outputs = [_renumber(o, count) for o in executed_cell.get("outputs", [])]
            elif index in metric_cells and failed is None:
                text = _metric_lines("".join(cell.source), result.metrics)
                cell.outputs = [_stream(text)] if text else []
            if failed is not None and index == stop_at:
                if not any(o.get("output_type") == "error" for o in cell.outputs):
                    cell.outputs.append(_error(failed))
                nb_man.cell_exception(cell, index)
                nb_man.cell_complete(cell, index)
                break
            nb_man.cell_complete(cell, index)
        return nb_man.nb


def _renumber(output: dict[str, Any], count: int) -> Any:
    import nbformat

    out = dict(output)
    if out.get("output_type") == "execute_result":
        out["execution_count"] = count
    # In memory, outputs hold plain strings (as from a kernel); files split them into lines.
    if isinstance(out.get("text"), list):
        out["text"] = "".join(out["text"])
    if "data" in out:
        out["data"] = {k: "".join(v) if isinstance(v, list) else v for k, v in out["data"].items()}
    return nbformat.from_dict(out)


def _error(failed: Any) -> Any:
    """An error output for a step that failed outside its cells (e.g. an unsaveable value)."""
    import nbformat

    ename, _, evalue = (failed.error or "StepFailed").partition(": ")
    tb = (failed.traceback or failed.error or "").splitlines()
    return nbformat.v4.new_output(
        "error", ename="StepFailed", evalue=failed.error or ename, traceback=tb
    )


def _stream(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("stream", name="stdout", text=text)
