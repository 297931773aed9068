"""The local engine's run: :class:`LocalEngine` plans, schedules and records one run.

``LocalEngine().run(request)`` makes the plan, walks it with a :class:`.scheduler.Scheduler`
over the run root's cache, watches for cancellation, settles the run's status, metrics and
values, and keeps ``run.json`` (:func:`record`) up to date as steps finish.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import fsutil, records
from ...errors import InputError
from ...model import Pipeline, Step
from ...records import collect_metrics, notebook_info
from ...run_results import RunEvent, RunResult, StepResult
from ..registry import RunRequest
from .cache import Cache
from .executor import Executor
from .plan import make_plan
from .scheduler import OUTPUTS, VALUES, Scheduler
from .warm import default_executor


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LocalEngine:
    """Runs steps as local subprocesses; ``executor`` is injectable for tests."""

    name = "local"

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor

    def run(self, request: RunRequest) -> RunResult:
        pipeline = request.pipeline
        nb_path = request.notebook_path
        if nb_path is None and pipeline.notebook_path:
            nb_path = Path(pipeline.notebook_path)
        root = records.ensure_writable(request.run_root or records.default_run_root(nb_path))
        plan = make_plan(
            pipeline, use_cache=request.use_cache, from_step=request.from_step, only=request.only
        )
        run_id = records.new_run_id()
        run_dir = root / "runs" / run_id
        cache = Cache(root / "cache")
        cache.sweep()
        executor = self._executor or default_executor()
        started = time.time()
        result = RunResult(
            run_id=run_id,
            status="running",
            parameters=dict(request.parameters),
            run_dir=str(run_dir),
            engine=self.name,
        )
        sched = Scheduler(
            pipeline=pipeline,
            parameters=request.parameters,
            run_id=run_id,
            run_dir=run_dir,
            cache=cache,
            executor=executor,
            plan=plan,
            jobs=request.jobs or default_jobs(),
            base_dir=nb_path.parent if nb_path is not None else None,
            progress=request.progress,
            keep_values=request.keep_values,
        )
        result.steps = sched.results
        info = notebook_info(pipeline, nb_path)

        def save() -> None:
            fsutil.write_json_atomic(
                run_dir / records.RUN_RECORD,
                record(pipeline, result, sched, info, request, started, root),
            )

        sched.on_change = save
        if request.progress is not None:
            request.progress(RunEvent(run_id, None, "running"))
        unwatch = watch_cancel(request.cancel, executor)
        try:
            sched.run()
        except KeyboardInterrupt:
            result.status = "cancelled"
            save()
            raise
        except InputError:
            # Raised before any step ran (e.g. --only without cached inputs): leave no run.
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        except Exception as exc:
            # An engine error must not leave the record "running" (if it can still be saved).
            result.status = "cancelled" if _cancelled(request) else "failed"
            _try(save)
            if fsutil.is_disk_full(exc):
                raise fsutil.disk_full_error(root) from exc
            raise
        finally:
            unwatch()
        _settle(result, request, sched, root, save)
        if request.progress is not None:
            request.progress(RunEvent(run_id, None, result.status, time.time() - started))
        return result


def _settle(
    result: RunResult,
    request: RunRequest,
    sched: Scheduler,
    root: Path,
    save: Callable[[], None],
) -> None:
    """The finished run's status, metrics and values, saved; a full disk raises instead."""
    pipeline = request.pipeline
    failed = any(s.status == "failed" for s in result.steps.values())
    result.status = "failed" if failed else "succeeded"
    if _cancelled(request):
        result.status = "cancelled"
    result.metrics = collect_metrics(pipeline, sched.metrics)
    if request.keep_values:
        result.values = load_values(pipeline, sched)
    full = failed and _disk_full(result, root)
    if full:  # not the notebook's fault: exit 3 naming the folder, not a step failure
        _try(save)
        raise fsutil.disk_full_error(root, f"step {full}'s results")
    save()


def watch_cancel(token: threading.Event | None, executor: Any) -> Callable[[], None]:
    """Stop the executor's running steps as soon as ``token`` is set (a
    :class:`~kale_like.engines.CancelToken` calls back; a plain Event is watched by a thread).
    Returns the function that ends the watch."""
    stop = getattr(executor, "cancel", None)
    if token is None or stop is None:
        return lambda: None

    def stop_in_thread() -> None:  # never block the canceller (e.g. the server's event loop)
        threading.Thread(target=stop, name="kale-cancel", daemon=True).start()

    on_cancel = getattr(token, "on_cancel", None)
    if on_cancel is not None:
        return on_cancel(stop_in_thread)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if token.wait(0.1):
                stop()
                return

    threading.Thread(target=watch, name="kale-cancel-watch", daemon=True).start()
    return done.set


def _cancelled(request: RunRequest) -> bool:
    return request.cancel is not None and request.cancel.is_set()


def _try(save: Any) -> None:
    try:
        save()
    except OSError:  # e.g. the disk is full: the error raised next says so
        pass


def _disk_full(result: RunResult, root: Path) -> str | None:
    """The first failed step that failed because the run root's disk is full, if any."""
    for name, step in result.steps.items():
        if step.status != "failed":
            continue
        if fsutil.mentions_disk_full(step.error) or fsutil.mentions_disk_full(step.traceback):
            return name
        if step.cell is None and fsutil.nearly_full(root):  # died before it could report
            return name
    return None


def load_values(pipeline: Pipeline, sched: Scheduler) -> dict[str, Any]:
    """Each variable's final value: as left by the last step (in notebook order) holding it.

    Later steps see what a top-to-bottom run would, so notebook order gives the final value.
    Values that cannot be loaded outside a step (e.g. instances of notebook classes) are left
    out.
    """
    from ...runtime.artifacts import load_value

    values: dict[str, Any] = {}
    for step in pipeline.steps:
        resolved = sched.resolved.get(step.name)
        if resolved is None:
            continue
        for folder in (resolved.entry.path / OUTPUTS, resolved.entry.path / VALUES):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.name.startswith("."):
                    continue
                try:
                    values[path.name] = load_value(path)
                except Exception:
                    values.pop(path.name, None)
    return values


def record(
    pipeline: Pipeline,
    result: RunResult,
    sched: Scheduler,
    notebook: dict[str, Any],
    request: RunRequest,
    started: float,
    root: Path,
) -> dict[str, Any]:
    """The ``run.json`` document: status, parameters, metrics and per-step lineage."""
    steps = {s.name: _step_record(s, result.steps[s.name], sched) for s in pipeline.steps}
    now = time.time()
    return {
        "run_id": result.run_id,
        "status": result.status,
        "engine": result.engine,
        "pipeline": pipeline.name,
        "notebook": notebook,
        "pipeline_digest": pipeline.digest(),
        "parameters": result.parameters,
        "metrics": collect_metrics(pipeline, sched.metrics),
        "options": {
            "jobs": sched.jobs,
            "use_cache": request.use_cache,
            "from_step": request.from_step,
            "only": list(request.only),
        },
        "run_root": str(root),
        "run_dir": result.run_dir,
        # Who is running it: readers show a "running" record whose runner is gone as
        # "interrupted" (records.reconcile).
        "runner": records.runner_identity(),
        "started": started,
        "finished": None if result.status == "running" else now,
        "seconds": round(now - started, 3),
        "steps": steps,
    }


def _step_record(step: Step, res: StepResult, sched: Scheduler) -> dict[str, Any]:
    """One step's entry of ``run.json``: its outcome, lineage and what was observed."""
    lin = sched.lineage[step.name]
    resolved = sched.resolved.get(step.name)
    sdir = sched.step_dir(step.name)
    return {
        "status": res.status,
        "seconds": round(res.seconds, 3),
        "cells": list(step.cells),
        "after": list(step.after),
        "code_hash": lin.code_hash,
        "cache_key": lin.cache_key,
        "parameters": lin.parameters,
        "inputs": lin.inputs,
        "state_inputs": lin.state_inputs,
        "outputs": resolved.outputs if resolved else {},
        "metrics": sched.metrics.get(step.name, {}),
        "cache_entry": str(resolved.entry.path) if resolved else None,
        "report": res.report,
        "notebook": str(sdir / "step.ipynb") if (sdir / "step.ipynb").is_file() else None,
        "log": str(sdir / "log.txt") if (sdir / "log.txt").is_file() else None,
        "started": lin.started,
        "finished": lin.finished,
        "error": res.error,
        "cell": res.cell,
        "traceback": res.traceback,
        # Writes the analysis did not see (runtime/observe.py) and the re-planning they caused.
        "observed": sched.observed.get(step.name, []),
        "notes": sched.notices.get(step.name, []),
        # The RNG kinds it changed or drew from (api/observed.py reads them), and a
        # failed first attempt that re-planning replaced by a new one.
        "state_observed": sched.state_facts.get(step.name, []),
        "replaced_failure": sched.replaced_failures.get(step.name),
        # What the step read from outside its inputs (runtime/reads.py): lineage, and
        # why it ran although it had a cache entry.
        "reads": (resolved.entry.meta.get("reads") or {}) if resolved else {},
        "rerun_reason": sched.rerun_reasons.get(step.name),
        "inputs_replanned": {
            v: p for v, p in sched.steps[step.name].inputs if (v, p) not in step.inputs
        },
        "state_replanned": {
            k: p for k, p in sched.steps[step.name].state_inputs if (k, p) not in step.state_inputs
        },
    }
