"""The local engine's scheduler: a parallel DAG walk with a content-addressed cache.

Steps start in notebook (topological) order as soon as every step they come after has
succeeded or was cached, at most ``jobs`` at a time. Before starting a step its cache key is
computed from its inputs' digests; a hit is reused without starting a process. After the
first failure nothing new starts except the steps before a failed one in notebook order
(an undeclared write of theirs may be what it lacked); the steps still running finish (and are
cached, so the next run resumes from the failed step). A failed step that re-planning routes a
value to runs again, and its failure is replaced by that attempt (``replaced_failures``).
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...model import Pipeline, Step
from ...records import step_dirname
from ...run_results import ProgressCallback, StepResult
from ...runtime.spec import step_spec
from . import cache as cachemod
from . import replan, stepdirs, workspaces
from .executor import Executor, Job, Outcome
from .observed_flow import ObservedFlow
from .plan import Plan, _edges, missing_producer
from .stepdirs import NOTEBOOK, OUTPUTS, REPORT, STATE, VALUES


@dataclass
class Resolved:
    """A step whose results exist: its cache entry and digests."""

    key: str
    entry: cachemod.Entry

    @property
    def outputs(self) -> dict[str, str]:
        return self.entry.outputs

    @property
    def state_digest(self) -> str:
        return str(self.entry.meta.get("state_digest", ""))


@dataclass
class StepLineage:
    code_hash: str = ""
    cache_key: str = ""
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    state_inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None


class Scheduler(ObservedFlow):
    """Runs one pipeline once. ``run()`` returns the per-step results."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        parameters: dict[str, Any],
        run_id: str,
        run_dir: Path,
        cache: cachemod.Cache,
        executor: Executor,
        plan: Plan,
        jobs: int,
        base_dir: Path | None,
        progress: ProgressCallback | None = None,
        on_change: Any = None,
        keep_values: bool = False,
    ) -> None:
        self.keep_values = keep_values
        self.pipeline = pipeline
        self.parameters = parameters
        self.run_id = run_id
        self.run_dir = run_dir
        self.cache = cache
        self.executor = executor
        self.plan = plan
        self.jobs = max(1, jobs)
        self.base_dir = base_dir
        self.progress = progress
        self.on_change = on_change or (lambda: None)
        self.results: dict[str, StepResult] = {s.name: StepResult(s.name) for s in pipeline.steps}
        self.lineage: dict[str, StepLineage] = {s.name: StepLineage() for s in pipeline.steps}
        self.resolved: dict[str, Resolved] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self._tmp: dict[str, Path] = {}
        # Observed data flow (replan.py): the current version of each step (inputs re-planned
        # on undeclared writes), what each step reported, notices, steps to run again.
        self.steps: dict[str, Step] = {s.name: s for s in pipeline.steps}
        self.observed: dict[str, list[dict[str, Any]]] = {}
        self.notices: dict[str, list[str]] = {}
        self._stale: set[str] = set()
        self._conflict: replan.Conflict | None = None
        # Why a step ran although it had a cache entry (something it read changed, ...).
        self.rerun_reasons: dict[str, str] = {}
        # Observed RNG state (replan.route_state): what each step changed or drew from, and
        # the writers' entries for the run record (a kind passed on to the steps that draw).
        self.state_facts: dict[str, list[dict[str, Any]]] = {}
        self._state_records: dict[str, list[dict[str, Any]]] = {}
        self._state_conflict: replan.StateConflict | None = None
        # A conflict fails the run for good: nothing new starts (other failures may be
        # replaced by a re-planned attempt). Notebook order decides what may still start.
        self._halted = False
        self._pos = replan.notebook_position(pipeline)
        # The failed first attempt of a step that re-planning ran again (for run.json).
        self.replaced_failures: dict[str, dict[str, Any]] = {}

    def step_dir(self, name: str) -> Path:
        return self.run_dir / "steps" / step_dirname(name)

    # -- keys ---------------------------------------------------------------------------
    def _key(self, step: Step) -> str:
        lin = self.lineage[step.name]
        lin.code_hash = cachemod.code_hash(self.pipeline, step)
        inputs: dict[str, str] = {}
        for var, producer in step.inputs:
            digest = self.resolved[producer].outputs.get(var, "")
            inputs[var] = digest
            lin.inputs[var] = {"producer": producer, "digest": digest}
        state: dict[str, str] = {}
        for kind, producer in step.state_inputs:
            digest = self.resolved[producer].state_digest
            state[kind] = digest
            lin.state_inputs[kind] = {"producer": producer, "digest": digest}
        data = {p for _, p in step.inputs} | {p for _, p in step.state_inputs}
        upstream = {p: self.resolved[p].key for p in step.after if p not in data}
        lin.parameters = {n: self.parameters.get(n) for n in step.parameters}
        lin.cache_key = cachemod.cache_key(
            code=lin.code_hash,
            modules=cachemod.modules_hash(self.base_dir, step.modules),
            inputs=inputs,
            state=state,
            parameters=lin.parameters,
            upstream=upstream,
            packages=cachemod.package_versions(step.modules, self.base_dir),
            extra=workspaces.key_extra(step, self._upstream_entries(step), self.base_dir),
        )
        return lin.cache_key

    def _upstream_entries(self, step: Step) -> dict[str, Path]:
        """Cache entries of every ancestor, in topological order (their workspaces)."""
        return {
            a: self.resolved[a].entry.path
            for a in workspaces.upstream(self.pipeline, step)
            if a in self.resolved
        }

    # -- cached steps -------------------------------------------------------------------
    def _use_entry(self, step: Step, entry: cachemod.Entry) -> None:
        self.resolved[step.name] = Resolved(entry.key, entry)
        self.metrics[step.name] = entry.metrics
        stepdirs.show_cached(self.step_dir(step.name), entry)
        self._finish_step_dir(step.name, entry)

    def _finish_step_dir(self, name: str, entry: cachemod.Entry) -> None:
        report = stepdirs.link_entry(self.step_dir(name), entry)
        if report is not None:
            self.results[name].report = report
        self.results[name].outputs = entry.outputs

    # -- executed steps -----------------------------------------------------------------
    def _job(self, step: Step, key: str) -> Job:
        tmp = self.cache.begin(key)
        self._tmp[step.name] = tmp
        (tmp / OUTPUTS).mkdir()
        sdir = self.step_dir(step.name)
        sdir.mkdir(parents=True, exist_ok=True)
        report_on = step.settings.report is not False
        imported = stepdirs.imported_modules(self.pipeline, step)
        return Job(
            step=step.name,
            spec=step_spec(self.pipeline, step),
            inputs={
                var: str(self.resolved[p].entry.path / OUTPUTS / var) for var, p in step.inputs
            },
            state_inputs={
                kind: str(self.resolved[p].entry.path / STATE) for kind, p in step.state_inputs
            },
            outputs={var: str(tmp / OUTPUTS / var) for var in step.outputs},
            state_output=str(tmp / STATE),
            observe_dir=str(tmp / OUTPUTS),
            parameters=dict(self.parameters),
            report_path=str(sdir / REPORT) if report_on else None,
            notebook_path=str(sdir / NOTEBOOK),
            result_path=str(sdir / "result.json"),
            job_path=str(sdir / "job.json"),
            log_path=str(sdir / "log.txt"),
            cwd=str(sdir / workspaces.WORKDIR),
            workspace_inputs=[
                str(path / workspaces.WORKSPACE) for path in self._upstream_entries(step).values()
            ],
            workspace_output=str(tmp / workspaces.WORKSPACE),
            keep_dir=str(tmp / VALUES) if self.keep_values else None,
            env=dict(step.settings.env),
            modules=tuple(sorted(set(step.modules) | imported)),
            timeout=float(step.settings.timeout) if step.settings.timeout else None,
        )

    def _commit(self, step: Step, key: str, outcome: Outcome) -> None:
        tmp = self._tmp.pop(step.name)
        sdir = self.step_dir(step.name)
        outputs = dict(outcome.outputs)
        for var in step.outputs:
            if not outputs.get(var):
                outputs[var] = cachemod.digest_path(tmp / OUTPUTS / var)
        for w in outcome.observed:  # saved for later readers (absent ones have no digest yet)
            if w.get("saved") and not outputs.get(w["variable"]):
                outputs[w["variable"]] = cachemod.digest_path(tmp / OUTPUTS / w["variable"])
        for name in (REPORT, NOTEBOOK):
            if (sdir / name).is_file():
                stepdirs.link_or_copy(sdir / name, tmp / name)
        meta = {
            "step": step.name,
            "key": key,
            "run_id": self.run_id,
            "code_hash": self.lineage[step.name].code_hash,
            "outputs": outputs,
            "state_digest": cachemod.digest_path(tmp / STATE),
            "metrics": outcome.metrics,
            "seconds": outcome.seconds,
            "created": time.time(),
            "observed": outcome.observed,
            "state_observed": outcome.state_observed,
            **workspaces.commit_meta(tmp, step, self.base_dir),
        }
        entry = self.cache.commit(key, tmp, meta)
        shutil.rmtree(sdir / workspaces.WORKDIR, ignore_errors=True)  # now in the entry
        self.resolved[step.name] = Resolved(key, entry)
        self.metrics[step.name] = dict(outcome.metrics)
        self._finish_step_dir(step.name, entry)

    def _lookup(self, step: Step, key: str) -> cachemod.Entry | None:
        if step.name in self.plan.force:
            return None
        entry = self.cache.lookup(key)
        if entry is not None and self.keep_values and not (entry.path / VALUES).is_dir():
            return None  # computed without final values: run again to get them
        why = workspaces.stale_reason(entry.meta, step, self.base_dir) if entry else None
        damaged = self.cache.damaged.pop(key, None)
        if damaged is not None:  # its saved values were cut or edited: recompute, say so
            why = f"{damaged}; the cache entry was discarded"
        if why is not None:  # a file or folder it read changed, or it used the network
            note = self.rerun_reasons[step.name] = f"step {step.name} re-ran: {why}"
            if note not in self.notices.setdefault(step.name, []):
                self.notices[step.name].insert(0, note)
                self.results[step.name].notes = list(self.notices[step.name])
            return None
        return entry

    # -- the walk -----------------------------------------------------------------------
    def _resolve_from_cache(self, step: Step) -> None:
        key = self._key(step)
        entry = self.cache.lookup(key)
        if entry is None:
            raise missing_producer(self.pipeline, self.plan, step)
        self.results[step.name].seconds = 0.0
        self._use_entry(step, entry)
        note = self._observe_all(
            step.name, entry.meta.get("observed") or [], entry.meta.get("state_observed")
        )
        self._set(step.name, "cached", note)

    def run(self) -> dict[str, StepResult]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        steps = [self.steps[s.name] for s in self.pipeline.steps]
        for step in steps:
            if step.name in self.plan.skip:
                self._set(step.name, "skipped")
        for step in steps:
            if step.name in self.plan.resolve:
                self._resolve_from_cache(step)
        self.on_change()
        running: dict[Future[Outcome], tuple[Step, str, float]] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="kale-step")
        try:
            while True:
                if self._start_ready(pool, running):
                    self.on_change()
                    continue
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                order = self.pipeline.step_names
                for fut in sorted(done, key=lambda f: order.index(running[f][0].name)):
                    step, key, t0 = running.pop(fut)
                    self._finished(step, key, t0, fut.result())
                self.on_change()
        except BaseException:
            cancel = getattr(self.executor, "cancel", None)
            if cancel is not None:
                cancel()
            for step, _, _ in running.values():
                self.results[step.name].status = "failed"
                self.results[step.name].error = "cancelled"
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for tmp in self._tmp.values():
                self.cache.discard(tmp)
            self._tmp.clear()
            for name, result in self.results.items():
                if result.status in ("pending", "running"):
                    self._set(name, "skipped")
        return self.results

    def _start_ready(
        self, pool: ThreadPoolExecutor, running: dict[Future[Outcome], tuple[Step, str, float]]
    ) -> bool:
        """Use the cache entry of, or start, every pending step whose predecessors are done
        (notebook order, at most ``jobs`` running); whether anything changed."""
        if self._halted:
            return False
        progressed = False
        for step in [self.steps[s.name] for s in self.pipeline.steps]:
            if len(running) >= self.jobs:
                break
            step = self.steps[step.name]  # re-planned by a step just before
            if self.results[step.name].status != "pending":
                continue
            if not self._may_start(step.name):
                continue
            if not all(self.results[p].status in ("succeeded", "cached") for p in _edges(step)):
                continue
            key = self._key(step)
            entry = self._lookup(step, key)
            if entry is not None:
                self._use_entry(step, entry)
                note = self._observe_all(
                    step.name, entry.meta.get("observed") or [], entry.meta.get("state_observed")
                )
                self._set(step.name, "cached", note)
                self._halt_on_conflicts()
                self._replanned(step)
                progressed = True
                continue
            job = self._job(step, key)
            self.lineage[step.name].started = time.time()
            self._set(step.name, "running")
            running[pool.submit(stepdirs.attempts, self.executor, step, job, self.base_dir)] = (
                step,
                key,
                time.perf_counter(),
            )
            progressed = True
        return progressed

    def _halt_on_conflicts(self) -> None:
        # Both checks run: each conflict marks its own step failed.
        if self._halt_on_conflict():
            self._halted = True
        if self._halt_on_state_conflict():
            self._halted = True

    def _finished(self, step: Step, key: str, t0: float, outcome: Outcome) -> None:
        """Record what a step that ran came to: committed, failed, or pending again."""
        result = self.results[step.name]
        result.seconds = time.perf_counter() - t0
        self.lineage[step.name].finished = time.time()
        if self._conflict is not None and self._conflict.second == step.name:
            self.cache.discard(self._tmp.pop(step.name))  # failed by the conflict
            return
        if step.name in self._stale:  # re-planned while running: run again
            self._stale.discard(step.name)
            self.cache.discard(self._tmp.pop(step.name))
            if outcome.ok and outcome.observed:
                self.observed[step.name] = list(outcome.observed)
            result.status = "pending"
            return
        if outcome.ok:
            self._commit(step, key, outcome)
            note = self._observe_all(step.name, outcome.observed, outcome.state_observed)
            why = self.rerun_reasons.get(step.name)  # shown first
            note = "; ".join(filter(None, (why, note))) or None
            self._set(step.name, "succeeded", note)
            self._halt_on_conflicts()
            self._replanned(step)
            return
        self.cache.discard(self._tmp.pop(step.name))
        result.error = outcome.error
        result.cell = outcome.cell
        result.traceback = outcome.traceback
        if (self.step_dir(step.name) / REPORT).is_file():
            result.report = str(self.step_dir(step.name) / REPORT)
        self._set(step.name, "failed", outcome.error)
