"""The instrumented top-to-bottom run of ``verify``: papermill over a temporary copy.

Cells injected before each step's first cell and after its last one save what the step
receives and passes on (with the runtime's marshal registry) and its metrics; they bind no
name in the user's namespace and display nothing.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

INDEX_KEY = "kale_like_verify_index"
# Both runs of verify start their RNGs from this seed, so unseeded draws agree too.
VERIFY_SEED = 20240917


def _seed(seed: int) -> None:
    """The first cell of the top-to-bottom run: the seed every pipeline step starts from."""
    from ..runtime.state import seed_all

    seed_all(seed)


def _seed_cell() -> dict[str, Any]:
    module = "kale_like.verification.top_to_bottom"
    src = f"__import__({module!r}, fromlist=['_seed'])._seed({VERIFY_SEED})"
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "kale-like-seed",
        "metadata": {"tags": ["kale-like-verify"]},
        "outputs": [],
        "source": src,
    }


def kale_order(raw_cells: list[dict[str, Any]], pipeline: Any) -> list[int]:
    """Indices of the cells a pipeline runs, in Kale's order: skipped cells and cells above
    every tag left out, ``imports``/``functions`` cells (replayed before every step) moved
    before the first step cell when they come after it."""
    left_out = {c.cell for c in getattr(pipeline, "cells", ()) if c.role in ("outside", "skip")}
    prelude = set(pipeline.prelude.import_cells) | set(pipeline.prelude.function_cells)
    steps = [i for s in pipeline.steps for i in s.cells]
    first_step = min(steps) if steps else len(raw_cells)
    kept = [i for i in range(len(raw_cells)) if i not in left_out]
    late = [i for i in kept if i in prelude and i > first_step]
    order = [i for i in kept if i not in late]
    at = order.index(first_step) if first_step in order else len(order)
    return order[:at] + late + order[at:]


def _dump(
    g: dict[str, Any],
    step: str,
    phase: str,
    names: list[str],
    metrics: list[str],
    refs: list[str],
    dump_dir: str,
) -> None:
    """Save ``names`` (and ``metrics``) of the kernel's namespace ``g`` for comparison."""
    import warnings

    from ..runtime import artifacts, marshal

    base = Path(dump_dir) / phase / step
    base.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        marshal.pickle_by_reference([g[n] for n in refs if n in g])
        for folder, group in (("values", names), ("metrics", metrics)):
            for name in group:
                if name not in g:
                    errors[name] = "not defined"
                    continue
                try:
                    artifacts.save_value(name, g[name], base / folder / name)
                except Exception as exc:
                    errors[name] = f"{type(exc).__name__}: {exc}"
    (base / "errors.json").write_text(json.dumps(errors), encoding="utf-8")


def _defined_names(source: str) -> list[str]:
    """Top-level classes and functions a ``functions`` cell defines."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]


def _dump_cell(
    step: str, phase: str, names: list[str], metrics: list[str], refs: list[str], dump_dir: str
) -> dict[str, Any]:
    args = ", ".join(repr(a) for a in (step, phase, names, metrics, refs, dump_dir))
    # No name is bound in the user's namespace, and the call's None result shows nothing.
    src = (
        "__import__('kale_like.verification.top_to_bottom', fromlist=['_dump'])"
        f"._dump(globals(), {args})"
    )
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"kale-like-{phase}-{step}"[:64],
        "metadata": {"tags": ["kale-like-verify"]},
        "outputs": [],
        "source": src,
    }


def top_to_bottom_notebook(
    raw: dict[str, Any], pipeline: Any, dump_dir: str
) -> tuple[dict[str, Any], list[int | None]]:
    """The copy papermill runs, and for each of its cells the original index (None: injected)."""
    import copy

    nb = copy.deepcopy(raw)
    refs = [n for src in pipeline.prelude.functions for n in _defined_names(src)]
    first = {min(s.cells): s for s in pipeline.steps if s.cells}
    last = {max(s.cells): s for s in pipeline.steps if s.cells}
    param_cells = {p.cell for p in pipeline.parameters if p.cell is not None}
    cells: list[dict[str, Any]] = [_seed_cell()]
    index_map: list[int | None] = [None]
    for index in kale_order(nb["cells"], pipeline):
        cell = nb["cells"][index]
        tags = cell.get("metadata", {}).get("tags", []) or []
        if "skip" in tags:
            continue
        step = first.get(index)
        if step is not None and step.inputs:
            cells.append(
                _dump_cell(step.name, "in", [v for v, _ in step.inputs], [], refs, dump_dir)
            )
            index_map.append(None)
        if index in param_cells and "parameters" not in tags:
            cell.setdefault("metadata", {})["tags"] = [*tags, "parameters"]
        cell.setdefault("metadata", {})[INDEX_KEY] = index
        cells.append(cell)
        index_map.append(index)
        step = last.get(index)
        if step is not None:
            cells.append(
                _dump_cell(step.name, "out", list(step.outputs), list(step.metrics), refs, dump_dir)
            )
            index_map.append(None)
    nb["cells"] = cells
    return nb, index_map


def _working_copy(folder: Path, work: Path) -> str:
    """A private working directory seeded with ``folder``'s files (as links): the run reads
    the notebook's data as usual, while the files it writes stay out of the user's folder
    (as in the pipeline run, whose steps each get such a directory)."""
    from ..runtime.workspace import mirror

    cwd = work / "cwd"
    mirror(folder, cwd)
    return str(cwd)


def _exception_text(error: dict[str, Any]) -> str:
    """``Type: message`` of an nbformat error output (the message's first line)."""
    name = str(error.get("ename") or "Exception")
    value = str(error.get("evalue") or "").strip().splitlines()
    return f"{name}: {value[0]}" if value else name


def _kernel_name(nb: dict[str, Any]) -> str | None:
    spec = nb.get("metadata", {}).get("kernelspec") or {}
    return spec.get("name") if isinstance(spec, dict) else None


def run_top_to_bottom(
    notebook: Path,
    pipeline: Any,
    parameters: dict[str, Any],
    work: Path,
    raw: dict[str, Any] | None = None,
) -> tuple[str, int | None, str | None]:
    """Run the instrumented copy with papermill; return (dump dir, failed cell, exception
    as ``"Type: message"``).
    ``raw`` replaces the notebook's own cells (a composition's flattened notebook)."""
    try:
        import nbformat
        import papermill
    except ModuleNotFoundError as exc:
        if exc.name not in ("papermill", "nbformat"):
            raise
        from ..errors import missing_extra

        raise missing_extra("papermill", "papermill", "verify") from exc
    if raw is None:
        raw = json.loads(notebook.read_text(encoding="utf-8"))
    dump_dir = str(work / "top_to_bottom")
    nb, index_map = top_to_bottom_notebook(raw, pipeline, dump_dir)
    node = nbformat.from_dict(nb)
    try:
        papermill.execute_notebook(
            node,
            str(work / "top_to_bottom.ipynb"),
            parameters=parameters or None,
            progress_bar=False,
            log_output=False,
            cwd=_working_copy(notebook.parent, work),
            # Kale's sub-notebooks often have no kernelspec: a Python notebook runs in python3.
            kernel_name=None if _kernel_name(nb) else "python3",
            # The kernel warns on every start that its local TCP ports are unencrypted:
            # noise for a verify run; real kernel errors still show.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as exc:
        # papermill inserted its own cells (parameters, error banners): find the failed cell
        # in its output by the original index recorded in each cell's metadata.
        executed = json.loads((work / "top_to_bottom.ipynb").read_text(encoding="utf-8"))
        for cell in executed["cells"]:
            pm = cell.get("metadata", {}).get("papermill", {})
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if pm.get("exception") or errors:
                original = cell["metadata"].get(INDEX_KEY)
                err = errors[0] if errors else {"ename": exc.ename, "evalue": exc.evalue}
                return dump_dir, original, _exception_text(err)
        return dump_dir, None, _exception_text({"ename": exc.ename, "evalue": exc.evalue})
    return dump_dir, None, None
