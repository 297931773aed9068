"""A papermill run as a cached, parallel kale_like pipeline (the engine's fast path).

The notebook runs on the local engine (independent steps in parallel, unchanged ones from
the cache) in papermill's working directory (the process's, i.e. ``--cwd`` when given); run
records go under ``$KALE_LIKE_RUN_ROOT`` or ``.kale_like/`` in that directory. Cells are
handed to papermill's execution manager in notebook order as soon as the steps that ran
them finish, so progress, ``--log-output``, ``--stdout-file``/``--stderr-file`` and saves
(``--request-save-on-cell-execute``, ``--autosave-cell-every``) happen during the run, with
each cell's recorded duration. A failing cell ends the notebook there, its error shown in
IPython's ``Cell In[k]`` form, as a top-to-bottom run would.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .kernel import echo_output, log

if TYPE_CHECKING:
    from ..model import Pipeline
    from ..run_results import RunEvent, RunResult

_FINISHED = ("succeeded", "cached", "failed")


def step_outputs(
    run_dir: str | os.PathLike[str] | None, steps: list[str], pipeline: Pipeline | None = None
) -> dict[int, dict[str, Any]]:
    """Notebook cell index -> executed cell (outputs, count) from each step's notebook.

    Prelude cells run in every step; the first step listed gives their outputs, as a
    top-to-bottom run executes them once. With ``pipeline``, cells are placed by their role
    and position in the step: a step taken from the cache carries the cell indices of the
    run that filled it, which differ once a cell was inserted above (papermill's
    ``injected-parameters`` cell, an edit elsewhere in the notebook).
    """
    cells: dict[int, dict[str, Any]] = {}
    if not run_dir:
        return cells
    for step in steps:
        path = Path(run_dir) / "steps" / step / "step.ipynb"
        if not path.is_file():
            continue
        executed = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
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


def metric_lines(source: str, metrics: dict[str, Any]) -> str:
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


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')
_CELL_FILE = re.compile(r"^<cell (\d+)>$")
_WIDTH = 75  # IPython's rule width


def ipython_traceback(
    ename: str, evalue: str, lines: list[str], sources: dict[int, str], counts: dict[int, int]
) -> list[str]:
    """A plain Python traceback (frames named ``<cell N>``) in IPython's verbose layout.

    ``sources``/``counts`` map notebook cell index -> source / execution count, so a frame
    reads ``Cell In[k], line L`` with two lines of context either side, as in a kernel.
    """
    title = "Traceback (most recent call last)"
    out = ["-" * _WIDTH, ename + " " * max(1, _WIDTH - len(ename) - len(title)) + title]
    for text in lines:
        m = _FRAME.match(text)
        if m is None:
            continue
        lineno, func = int(m["line"]), m["func"]
        cell = _CELL_FILE.match(m["file"])
        if cell is not None:
            index = int(cell.group(1))
            head = f"Cell In[{counts.get(index, ' ')}], line {lineno}"
            body = sources.get(index, "").splitlines()
        else:
            head = f"File {m['file']}:{lineno}"
            try:
                body = Path(m["file"]).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                body = []
        if func != "<module>":
            head += f", in {func}"
        shown = range(max(1, lineno - 2), min(len(body), lineno + 2) + 1)
        width = len(str(shown.stop - 1)) if shown else 1
        context = "".join(
            f"{'----> ' if n == lineno else '      '}{n:>{width}} {body[n - 1]}\n" for n in shown
        )
        out.append(f"{head}\n{context}")
    out.append(f"{ename}: {evalue}" if evalue else ename)
    return out


def _iso(ts: datetime.datetime) -> str:
    return ts.isoformat()


class CellFeed:
    """Hands executed cells to papermill's manager in notebook order as their steps finish."""

    def __init__(self, nb_man: Any, pipeline: Pipeline, root: Path, options: dict[str, Any]):
        self.nb_man = nb_man
        self.cells = nb_man.nb.cells
        self.pipeline = pipeline
        self.root = root
        self.options = options
        own = [s for s in pipeline.steps if s.notebook is None]  # composition: not our cells
        self.own = [s.name for s in own]
        self.owner: dict[int, str] = {}
        for index in (*pipeline.prelude.import_cells, *pipeline.prelude.function_cells):
            if own:
                self.owner[index] = own[0].name
        for step in own:
            for index in step.cells:
                self.owner[index] = step.name
        self.metric_cells = {m.cell for m in pipeline.metrics if m.cell is not None}
        self.done: set[str] = set()
        self.executed: dict[int, dict[str, Any]] = {}
        self.run_dir: Path | None = None
        self.next = 0
        self.count = 0
        self.counts: dict[int, int] = {}
        self.stop_at: int | None = None
        self.stopped = False

    # -- events -----------------------------------------------------------------------------
    def on_event(self, event: RunEvent) -> None:
        """Progress callback of the local engine (called on the thread that runs it)."""
        self.run_dir = self.root / "runs" / event.run_id
        self.nb_man.autosave_cell()
        if event.step is None or event.status not in _FINISHED:
            return
        if event.step not in self.owner.values():
            return
        self.done.add(event.step)
        self._read(event.step)
        if event.status == "failed" and self.stop_at is None:
            self.stop_at = self._failing_cell(event.step)
        self.pump(final=False)

    def _read(self, step: str) -> None:
        for index, cell in step_outputs(self.run_dir, [step], self.pipeline).items():
            # Prelude cells: the first step in pipeline order gives their outputs.
            if self.owner.get(index) == step or index not in self.executed:
                self.executed[index] = cell

    def _failing_cell(self, step: str) -> int | None:
        cells = self.pipeline.step(step).cells
        for index in cells:
            meta = self.executed.get(index, {}).get("metadata", {}).get("kale_like", {})
            if meta.get("error"):
                return index
        return max(cells, default=None)

    # -- emitting ---------------------------------------------------------------------------
    def pump(self, final: bool, result: RunResult | None = None) -> None:
        """Emit every cell whose outputs are known, in order, up to a failing cell."""
        while not self.stopped and self.next < len(self.cells):
            index = self.next
            cell = self.cells[index]
            if not final and cell.get("cell_type") == "code":
                owner = self.owner.get(index)
                if (owner is not None and owner not in self.done) or index in self.metric_cells:
                    return
                if index == self.stop_at and not _has_error(self.executed.get(index)):
                    return  # failed outside its cells: the run's result says how
            self._emit(index, cell, result)
            self.next += 1

    def _emit(self, index: int, cell: Any, result: RunResult | None) -> None:
        nb_man = self.nb_man
        nb_man.cell_start(cell, index)
        seconds: float | None = None
        failing = index == self.stop_at
        source = "".join(cell.source) if isinstance(cell.source, list) else cell.source
        tags = cell.get("metadata", {}).get("tags", []) or []
        if cell.get("cell_type") == "code" and source.strip() and "skip" not in tags:
            self.count += 1
            self.counts[index] = self.count
            cell.execution_count = self.count
            done = self.executed.get(index)
            if done is not None:
                cell.outputs = [self._output(o, self.count) for o in done.get("outputs", [])]
                seconds = done.get("metadata", {}).get("kale_like", {}).get("seconds")
            elif index in self.metric_cells and result is not None and self.stop_at is None:
                text = metric_lines(source, result.metrics)
                cell.outputs = [_stream(text)] if text else []
            for output in cell.outputs:
                echo_output(
                    output,
                    log,
                    bool(self.options.get("log_output")),
                    self.options.get("stdout_file"),
                    self.options.get("stderr_file"),
                )
        if failing:
            failed = result.failed_step if result is not None else None
            if not any(o.get("output_type") == "error" for o in cell.outputs) and failed:
                cell.outputs.append(_error(failed))
            nb_man.cell_exception(cell, index)
            self.stopped = True
        nb_man.cell_complete(cell, index)
        if isinstance(seconds, (int, float)):
            # The duration the cell took where it ran, not the time it took to hand it over.
            meta = cell.metadata.papermill
            meta["duration"] = float(seconds)
            end = datetime.datetime.fromisoformat(meta["end_time"])
            meta["start_time"] = _iso(end - datetime.timedelta(seconds=float(seconds)))

    def _output(self, output: dict[str, Any], count: int) -> Any:
        import nbformat

        out = dict(output)
        if out.get("output_type") == "execute_result":
            out["execution_count"] = count
        # In memory, outputs hold plain strings (as from a kernel); files split them into lines.
        if isinstance(out.get("text"), list):
            out["text"] = "".join(out["text"])
        if "data" in out:
            out["data"] = {
                k: "".join(v) if isinstance(v, list) else v for k, v in out["data"].items()
            }
        if out.get("output_type") == "error" and out.get("traceback"):
            sources = {
                i: "".join(c.source) if isinstance(c.source, list) else c.source
                for i, c in enumerate(self.cells)
            }
            out["traceback"] = ipython_traceback(
                out.get("ename", ""), out.get("evalue", ""), out["traceback"], sources, self.counts
            )
        return nbformat.from_dict(out)

    def finish(self, result: RunResult) -> None:
        """After the run: the latest outputs of every step, then the rest of the notebook."""
        self.run_dir = Path(result.run_dir) if result.run_dir else self.run_dir
        for step in self.own:
            self._read(step)
        failed = result.failed_step
        if failed is not None and self.stop_at is None:
            # Top to bottom stops at the failing cell: nothing after it runs.
            cell = failed.cell
            self.stop_at = cell if cell is not None else self._failing_cell(failed.name)
        self.pump(final=True, result=result)


def execute_as_pipeline(
    nb_man: Any, pipeline: Pipeline, *, use_cache: bool, options: dict[str, Any]
) -> Any:
    """Run the parameterized notebook as a pipeline and fill ``nb_man.nb`` from its steps."""
    from ..api.execution import run
    from ..records import default_run_root

    # Code runs where papermill runs it: the working directory (its files, its outputs).
    name = Path(pipeline.notebook_path).name if pipeline.notebook_path else "notebook.ipynb"
    nb_path = Path.cwd() / name
    pipeline = dataclasses.replace(pipeline, notebook_path=str(nb_path))
    root = default_run_root(nb_path).absolute()  # beside the notebook: the cwd
    feed = CellFeed(nb_man, pipeline, root, options)
    # The injected-parameters cell already holds the values: the analysis read them.
    result = run(
        pipeline,
        run_root=root,
        jobs=options.get("jobs"),
        use_cache=use_cache,
        progress=feed.on_event,
    )
    nb_man.nb.metadata.setdefault("kale_like", {}).update(
        {"run_id": result.run_id, "run_dir": result.run_dir, "status": result.status}
    )
    feed.finish(result)
    return nb_man.nb


def _error(failed: Any) -> Any:
    """An error output for a step that failed outside its cells (e.g. an unsaveable value)."""
    import nbformat

    tb = (failed.traceback or failed.error or "").splitlines()
    return nbformat.v4.new_output(
        "error", ename="StepFailed", evalue=failed.error or "StepFailed", traceback=tb
    )


def _has_error(cell: dict[str, Any] | None) -> bool:
    outputs = (cell or {}).get("outputs", [])
    return any(o.get("output_type") == "error" for o in outputs)


def _stream(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("stream", name="stdout", text=text)
