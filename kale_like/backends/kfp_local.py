"""The ``kfp-local`` engine: the compiled pipeline run by KFP's own local runner.

This is the conformance check that the generated DSL really runs under KFP: the pipeline is
compiled into a temporary directory, its DSL module is imported from that file (lightweight
components need real source), and the pipeline function is called under
``kfp.local.init(runner=SubprocessRunner(use_venv=False), pipeline_root=RUN_DIR/kfp)``.
Metrics are read from each task's ``mlpipeline_metrics`` artifact (numbers only: KFP
metrics are numeric). KFP's own log goes to ``RUN_DIR/kfp.log``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..engines import RunRequest
from ..errors import EnvironmentProblem, UsageError, missing_extra
from ..model import Pipeline
from ..results import RunEvent, RunResult, StepResult
from .local import collect_metrics, notebook_info, records

# The runtime's own message, as KFP logs the task's traceback.
_STEP_FAILED = re.compile(r"StepFailed: step '.*?' failed in cell (\d+): (.*)")


_TASK_EVENT = re.compile(
    r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?) - \w+ - "
    r"(?:Executing task \x1b\[\d+m'([^']+)'|Task \x1b\[\d+m'([^']+)'\x1b\[0m finished)",
    re.MULTILINE,
)


def task_seconds(log: str) -> dict[str, float]:
    """Task name -> seconds, from the start/finish lines of KFP's local orchestrator log."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for m in _TASK_EVENT.finditer(log):
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        if m.group(4):
            started[m.group(4)] = t
        elif m.group(5) in started:
            out[m.group(5)] = (t - started[m.group(5)]) % 86400  # across midnight
    return out


class KfpLocalEngine:
    """Runs the compiled pipeline with ``kfp.local.SubprocessRunner(use_venv=False)``."""

    name = "kfp-local"

    def run(self, request: RunRequest) -> RunResult:
        if request.from_step or request.only:
            raise UsageError(
                "--from and --only need the local engine (kfp.local runs whole pipelines)",
                kind="unsupported-option",
                fix="drop --from/--only, or use --engine local",
            )
        try:
            import kfp.local  # noqa: F401
        except ImportError as exc:
            raise missing_extra("kfp", "dev", "the kfp-local engine") from exc
        from ..api.compile import compile as compile_pipeline
        from ..codegen.names import allocate_names

        pipeline = request.pipeline
        nb_path = request.notebook_path or (
            Path(pipeline.notebook_path) if pipeline.notebook_path else None
        )
        root = records.ensure_writable(request.run_root or records.default_run_root(nb_path))
        run_id = records.new_run_id()
        run_dir = root / "runs" / run_id
        run_dir.mkdir(parents=True)
        names = allocate_names(pipeline)
        result = RunResult(
            run_id=run_id,
            status="running",
            parameters=dict(request.parameters),
            run_dir=str(run_dir),
            engine=self.name,
            steps={s.name: StepResult(s.name) for s in pipeline.steps},
        )
        emit = request.progress or (lambda event: None)
        emit(RunEvent(run_id, None, "running"))
        started = time.time()
        with tempfile.TemporaryDirectory(prefix="kale-like-kfp-") as tmp:
            compiled = compile_pipeline(pipeline, tmp)
            module = _import_dsl(Path(compiled.dsl_path))
            func = getattr(module, "pipeline", None)
            if func is None:
                raise EnvironmentProblem(
                    f"generated DSL {compiled.dsl_path} has no `pipeline` function",
                    kind="bad-dsl",
                )
            # KFP input names are sanitized and None-default parameters travel as JSON.
            from ..codegen import kfp_arguments

            kwargs = kfp_arguments(pipeline, dict(request.parameters))
            pipeline_root = run_dir / "kfp"
            cwd = nb_path.parent if nb_path is not None else Path.cwd()
            error: str | None = None
            with (
                _redirected(run_dir / "kfp.log"),
                _chdir(cwd),
                _importable(),
                warnings.catch_warnings(),
            ):
                # Display names only matter on a cluster; KFP warns about each task here.
                warnings.filterwarnings("ignore", message=".*no effect in the current local runner")
                import kfp.local

                kfp.local.init(
                    runner=kfp.local.SubprocessRunner(use_venv=False),
                    pipeline_root=str(pipeline_root),
                    raise_on_error=False,
                )
                try:
                    func(**kwargs)
                except Exception as exc:  # KFP reports a failed task as an exception
                    error = f"{type(exc).__name__}: {exc}"
        seconds = time.time() - started
        per_step = _task_outputs(pipeline, names.kfp_tasks, pipeline_root)
        try:
            timings = task_seconds((run_dir / "kfp.log").read_text(encoding="utf-8"))
        except OSError:
            timings = {}
        failed_seen = False
        for step in pipeline.steps:
            res = result.steps[step.name]
            res.seconds = timings.get(_k8s(names.functions[step.name]), 0.0)
            out = per_step.get(step.name)
            if out is not None:
                res.status = "succeeded"
            elif not failed_seen and _ready(step, per_step):
                res.status = "failed"
                log = _tail(run_dir / "kfp.log", 20000)
                res.error = error or "the step failed under kfp.local"
                res.traceback = log[-4000:]
                found = _STEP_FAILED.findall(log)
                if found:
                    res.cell, res.error = int(found[-1][0]), found[-1][1].strip()
                failed_seen = True
            else:
                res.status = "skipped"
            emit(RunEvent(run_id, step.name, res.status, 0.0, res.error))
        metrics = {name: out["metrics"] for name, out in per_step.items()}
        result.metrics = collect_metrics(pipeline, metrics)
        if request.keep_values:
            result.values = _values(pipeline, names.variables, per_step)
        failed = any(s.status == "failed" for s in result.steps.values()) or error is not None
        result.status = "failed" if failed else "succeeded"
        if failed and result.failed_step is None:  # KFP failed before any step ran
            first = next(iter(result.steps.values()))
            first.status, first.error = "failed", error
        records.write_json_atomic(
            run_dir / records.RUN_RECORD,
            {
                "run_id": run_id,
                "status": result.status,
                "engine": self.name,
                "pipeline": pipeline.name,
                "notebook": notebook_info(pipeline, nb_path),
                "parameters": result.parameters,
                "metrics": result.metrics,
                "run_dir": str(run_dir),
                "started": started,
                "finished": time.time(),
                "seconds": round(seconds, 3),
                "steps": {
                    name: {
                        **res.to_json(),
                        "task_dir": per_step.get(name, {}).get("dir"),
                        "metrics": metrics.get(name, {}),
                    }
                    for name, res in result.steps.items()
                },
            },
        )
        emit(RunEvent(run_id, None, result.status, seconds))
        return result


def _ready(step: Any, done: dict[str, Any]) -> bool:
    return all(p in done for p in step.after)


def _import_dsl(path: Path) -> Any:
    name = f"kale_like_dsl_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EnvironmentProblem(f"cannot import generated DSL {path}", kind="bad-dsl")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # KFP resolves component sources through the module
    spec.loader.exec_module(module)
    return module


def _task_outputs(
    pipeline: Pipeline, functions: dict[str, str], pipeline_root: Path
) -> dict[str, dict[str, Any]]:
    """step -> {"dir", "metrics"} for every task that finished (has executor_output.json)."""
    runs = [p for p in pipeline_root.iterdir() if p.is_dir()] if pipeline_root.is_dir() else []
    if not runs:
        return {}
    run = max(runs, key=lambda p: p.stat().st_mtime)
    out: dict[str, dict[str, Any]] = {}
    for step in pipeline.steps:
        fn = functions[step.name]
        for candidate in (_k8s(fn), fn.replace("_", "-"), fn):
            task_dir = run / candidate
            exec_out = task_dir / "executor_output.json"
            if exec_out.is_file():
                data = json.loads(exec_out.read_text(encoding="utf-8"))
                arts = data.get("artifacts", {}).get("mlpipeline_metrics", {}).get("artifacts", [])
                metrics = dict(arts[0].get("metadata", {})) if arts else {}
                out[step.name] = {"dir": str(task_dir), "metrics": metrics}
                break
    return out


def _k8s(function_name: str) -> str:
    """KFP names a task after its component, made Kubernetes-safe (`class_` -> `class`)."""
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", function_name.lower())).strip("-")


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


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", errors="replace")
    except OSError:
        return ""
