"""What the ``kfp-local`` and ``docker`` engines share: both run the compiled pipeline through
``kfp.local`` and read the results back from the task folders under the pipeline root.

A run goes: :func:`start_run` (run folder, empty :class:`RunResult`, "running" event) →
compile → :func:`import_pipeline` → :func:`call_pipeline` under a KFP runner → :func:`finish`
(step states from the executor outputs, metrics, values, ``run.json``, final event).
A task succeeded iff it wrote its ``executor_output.json``: KFP's ``DockerRunner`` reports a
container that exited (and was auto-removed) before ``wait`` as SUCCESS.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fsutil, records
from ..errors import EnvironmentProblem, UsageError
from ..model import Pipeline
from ..records import collect_metrics, notebook_info
from ..run_results import RunEvent, RunResult, StepResult
from .registry import RunRequest

__all__ = [
    "LocalRun",
    "call_pipeline",
    "finish",
    "import_pipeline",
    "refuse_partial",
    "start_run",
    "task_seconds",
]

# The runtime's own message, as KFP logs the task's traceback.
STEP_FAILED = re.compile(r"StepFailed: step '.*?' failed in cell (\d+): (.*)")
TASK_FAILED = re.compile(
    r"Task (?:\x1b\[\d+m)?'(.+?)'(?:\x1b\[0m)? finished with status (?:\x1b\[\d+m)?FAILURE"
)
# Observed data flow failures (runtime/observe.py, state_watch.py): the message names the
# step and the cell; the fix follows on its own line.
OBSERVED_FAILED = re.compile(
    r"StepFailed: (step \S+ [^\n]*?\(cell (\d+)\)[^\n]*)\n\s*fix: ([^\n]*)"
)
# Any other StepFailed (a value that cannot be saved, a damaged input): its own words.
ANY_FAILED = re.compile(r"StepFailed: ([^\n]+)(?:\n\s*fix: ([^\n]*))?")

_LOG_LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?) - \w+ - (?:Executing task|Task) (?:\x1b\[\d+m)?'(.+?)'"
    r"(?:\x1b\[0m)?( finished)?"
)


def task_seconds(log: str) -> dict[str, float]:
    """KFP task name -> seconds from "Executing task" to "finished" in kfp.local's log."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for line in log.splitlines():
        m = _LOG_LINE.match(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        name = m.group(4)
        if m.group(5) and name in started:
            out[name] = round((t - started[name]) % 86400, 3)  # across midnight
        elif not m.group(5) and "Executing task" in line:
            started[name] = t
    return out


def refuse_partial(request: RunRequest) -> None:
    """kfp.local runs whole pipelines: ``--from``/``--only`` are the local engine's."""
    if request.from_step or request.only:
        raise UsageError(
            "--from and --only need the local engine (kfp.local runs whole pipelines)",
            kind="unsupported-option",
            fix="drop --from/--only, or use --engine local",
        )


@dataclass
class LocalRun:
    """One run in progress: where it writes and what it has found so far."""

    engine: str
    request: RunRequest
    nb_path: Path | None
    run_id: str
    run_dir: Path
    result: RunResult
    emit: Callable[[RunEvent], None]
    started: float

    @property
    def pipeline_root(self) -> Path:
        return self.run_dir / "kfp"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "kfp.log"


def start_run(request: RunRequest, engine: str) -> LocalRun:
    """Make the run folder, an all-pending result, and emit the "running" event."""
    pipeline = request.pipeline
    nb_path = request.notebook_path or (
        Path(pipeline.notebook_path) if pipeline.notebook_path else None
    )
    root = records.ensure_writable(request.run_root or records.default_run_root(nb_path))
    run_id = records.new_run_id()
    run_dir = root / "runs" / run_id
    run_dir.mkdir(parents=True)
    result = RunResult(
        run_id=run_id,
        status="running",
        parameters=dict(request.parameters),
        run_dir=str(run_dir),
        engine=engine,
        steps={s.name: StepResult(s.name) for s in pipeline.steps},
    )
    emit = request.progress or (lambda event: None)
    emit(RunEvent(run_id, None, "running"))
    return LocalRun(engine, request, nb_path, run_id, run_dir, result, emit, time.time())


def import_pipeline(dsl_path: Path) -> Any:
    """The ``pipeline`` function of a generated DSL file, imported from that file."""
    name = f"kale_like_dsl_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, dsl_path)
    if spec is None or spec.loader is None:
        raise EnvironmentProblem(f"cannot import generated DSL {dsl_path}", kind="bad-dsl")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # KFP resolves component sources through the module
    spec.loader.exec_module(module)
    func = getattr(module, "pipeline", None)
    if func is None:
        raise EnvironmentProblem(
            f"generated DSL {dsl_path} has no `pipeline` function", kind="bad-dsl"
        )
    return func


def call_pipeline(
    run: LocalRun, func: Any, kwargs: dict[str, Any], runner: Any, cwd: Path | None = None
) -> str | None:
    """Call the pipeline under ``kfp.local`` with ``runner``; the error KFP raised, if any.

    KFP's console output goes to ``RUN_DIR/kfp.log``; task processes can import kale_like
    even from a source checkout; ``cwd`` (if given) is the working directory meanwhile.
    """
    import kfp.local

    with (
        _redirected(run.log_path),
        _chdir(cwd) if cwd is not None else contextlib.nullcontext(),
        _importable(),
        warnings.catch_warnings(),
    ):
        # Display names only matter on a cluster; KFP warns about each task here.
        warnings.filterwarnings("ignore", message=".*no effect in the current local runner")
        kfp.local.init(runner=runner, pipeline_root=str(run.pipeline_root), raise_on_error=False)
        try:
            func(**kwargs)
        except Exception as exc:  # KFP reports a failed task as an exception
            return f"{type(exc).__name__}: {exc}"
    return None


def finish(
    run: LocalRun,
    error: str | None,
    *,
    failure: str,
    record: dict[str, Any] | None = None,
    step_record: Callable[[str], dict[str, Any]] | None = None,
) -> RunResult:
    """Step states, timings, metrics and values from the task folders; ``run.json`` written.

    ``failure`` is the message of a failed step when the log has no runtime message;
    ``record`` adds keys to ``run.json`` and ``step_record(step)`` to each of its steps.
    """
    from ..codegen.names import allocate_names

    pipeline, result = run.request.pipeline, run.result
    names = allocate_names(pipeline)
    seconds = time.time() - run.started
    per_step = _task_outputs(pipeline, names.kfp_tasks, run.pipeline_root)
    timings = task_seconds(fsutil.tail_text(run.log_path, 2_000_000))
    failed_seen = False
    # The task KFP reports failed (sibling tasks run in any order under kfp.local).
    by_task = {task: name for name, task in names.kfp_tasks.items()}
    failed_tasks = [
        by_task.get(t) for t in TASK_FAILED.findall(fsutil.tail_text(run.log_path, 20000))
    ]
    failed_task = next((t for t in failed_tasks if t and t not in per_step), None)
    for step in pipeline.steps:
        res = result.steps[step.name]
        res.seconds = timings.get(names.kfp_tasks[step.name], 0.0)
        if step.name in per_step:
            res.status = "succeeded"
        elif (
            not failed_seen
            and failed_task in (None, step.name)
            and all(p in per_step for p in step.after)
        ):
            res.status, failed_seen = "failed", True
            _read_failure(res, fsutil.tail_text(run.log_path, 20000), error or failure)
        else:
            res.status = "skipped"
        run.emit(RunEvent(run.run_id, step.name, res.status, res.seconds, res.error))
    metrics = {name: out["metrics"] for name, out in per_step.items()}
    result.metrics = collect_metrics(pipeline, metrics)
    if run.request.keep_values:
        result.values = _values(pipeline, names.variables, per_step)
    failed = any(s.status == "failed" for s in result.steps.values()) or error is not None
    result.status = "failed" if failed else "succeeded"
    if failed and result.failed_step is None:  # KFP failed before any step ran
        first = next(iter(result.steps.values()))
        first.status, first.error = "failed", error
    fsutil.write_json_atomic(
        run.run_dir / records.RUN_RECORD,
        {
            "run_id": run.run_id,
            "status": result.status,
            "engine": run.engine,
            "pipeline": pipeline.name,
            "notebook": notebook_info(pipeline, run.nb_path),
            "parameters": result.parameters,
            "metrics": result.metrics,
            **(record or {}),
            "run_dir": str(run.run_dir),
            "started": run.started,
            "finished": time.time(),
            "seconds": round(seconds, 3),
            "steps": {
                name: {
                    **res.to_json(),
                    **(step_record(name) if step_record else {}),
                    "task_dir": per_step.get(name, {}).get("dir"),
                    "metrics": metrics.get(name, {}),
                }
                for name, res in result.steps.items()
            },
        },
    )
    run.emit(RunEvent(run.run_id, None, result.status, seconds))
    return result


def _read_failure(res: StepResult, log: str, default: str) -> None:
    """The failed step's cell and message from the run log (``default`` when it has none)."""
    res.error = default
    res.traceback = log[-4000:]
    found = STEP_FAILED.findall(log)
    observed = OBSERVED_FAILED.findall(log)
    if found:
        # The text numbers cells from 1 (errors.cell_label); JSON keeps the index.
        res.cell, res.error = int(found[-1][0]) - 1, found[-1][1].strip()
    elif observed:
        text, cell, fix = observed[-1]
        res.cell, res.error = int(cell) - 1, f"{text.strip()}; fix: {fix.strip()}"
    elif ANY_FAILED.search(log):
        text, fix = ANY_FAILED.findall(log)[-1]
        res.error = text.strip() + (f"; fix: {fix.strip()}" if fix.strip() else "")


def _task_outputs(
    pipeline: Pipeline, kfp_tasks: dict[str, str], pipeline_root: Path
) -> dict[str, dict[str, Any]]:
    """step -> {"dir", "metrics"} for every task that finished (has executor_output.json)."""
    runs = [p for p in pipeline_root.iterdir() if p.is_dir()] if pipeline_root.is_dir() else []
    if not runs:
        return {}
    latest = max(runs, key=lambda p: p.stat().st_mtime)
    out: dict[str, dict[str, Any]] = {}
    for step in pipeline.steps:
        task_dir = latest / kfp_tasks[step.name]
        exec_out = task_dir / "executor_output.json"
        if exec_out.is_file():
            data = json.loads(exec_out.read_text(encoding="utf-8"))
            arts = data.get("artifacts", {}).get("mlpipeline_metrics", {}).get("artifacts", [])
            metrics = dict(arts[0].get("metadata", {})) if arts else {}
            out[step.name] = {"dir": str(task_dir), "metrics": metrics}
    return out


def _values(
    pipeline: Pipeline, variables: dict[str, str], per_step: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    from ..runtime.artifacts import load_value

    values: dict[str, Any] = {}
    for step in pipeline.steps:
        if step.name not in per_step:
            continue
        for var in step.outputs:
            path = Path(per_step[step.name]["dir"]) / variables.get(var, var)
            if path.exists():
                values[var] = load_value(path)
    return values


@contextlib.contextmanager
def _redirected(log_path: Path) -> Iterator[None]:
    """Send KFP's console output to ``log_path`` (KFP prints task logs to ``sys.stdout``)."""
    with open(log_path, "a", encoding="utf-8") as log:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _importable() -> Iterator[None]:
    """Task processes must import kale_like even from a source checkout."""
    root = str(Path(__file__).resolve().parents[2])
    old = os.environ.get("PYTHONPATH")
    parts = old.split(os.pathsep) if old else []
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *parts])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
