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

import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...model import Pipeline, Step
from ...records import step_dirname
from ...results import ProgressCallback, RunEvent, StepResult
from ...runtime.spec import step_spec
from . import cache as cachemod
from . import replan, workspaces
from .executor import Executor, Job, Outcome
from .plan import Plan, _edges, ancestors

OUTPUTS = "outputs"
VALUES = "values"  # every final global of the step, for keep_values runs
STATE = "state"
REPORT = "report.html"
NOTEBOOK = "step.ipynb"


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


class Scheduler:
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

    # -- events -------------------------------------------------------------------------
    def _observe(self, name: str, writes: list[dict[str, Any]]) -> str | None:
        """Route ``name``'s undeclared writes to their readers; the notice to show, if any."""
        self.observed[name] = list(writes)
        if not writes:
            return None
        routes, conflict = replan.route(
            self.pipeline, self.steps, name, writes, self.observed
        )
        lines = [r.message() for r in routes]
        for r in routes:
            self._rerun(r.consumer, r.writer, r.variable)
        if conflict is not None and self._conflict is None:
            self._conflict = conflict
            lines.append(conflict.message())
        self.notices.setdefault(name, []).extend(lines)
        self.results[name].notes = list(self.notices[name])
        return "; ".join(lines) or None

    def _observe_all(self, name: str, writes: list[dict[str, Any]], state: Any) -> str | None:
        """Both kinds of observations of one step; the combined notice."""
        notes = [self._observe(name, writes), self._observe_state(name, list(state or []))]
        return "; ".join(n for n in notes if n) or None

    def _observe_state(self, name: str, facts: list[dict[str, Any]]) -> str | None:
        """Route the steps that drew from RNG state to the step whose state they continue
        from top to bottom (replan.route_state); the notice to show, if any."""
        self.state_facts[name] = facts
        lines: list[str] = []
        if any(f.get("drew") for fs in self.state_facts.values() for f in fs):
            routes, conflict = replan.route_state(self.pipeline, self.steps, self.state_facts)
            for r in routes:
                self._rerun(r.consumer, r.writer, r.kind)
                records = self._state_records.setdefault(r.writer, [])
                mine = next((e for e in records if e["variable"] == r.kind), None)
                if mine is None:
                    records.append(r.record())
                elif r.consumer not in mine["later"]:
                    mine["later"].append(r.consumer)
                for who in dict.fromkeys((r.writer, r.consumer)):
                    self.notices.setdefault(who, []).append(r.message())
                    self.results[who].notes = list(self.notices[who])
                lines.append(r.message())
            if conflict is not None and self._state_conflict is None:
                self._state_conflict = conflict
                lines.append(conflict.message())
        for writer, records in self._state_records.items():
            kept = [w for w in self.observed.get(writer, []) if not w.get("state")]
            self.observed[writer] = kept + [dict(e, later=list(e["later"])) for e in records]
        return "; ".join(lines) or None

    def _replanned(self, step: Step) -> bool:
        """``step`` (as it ran) was re-planned by what it or another step just reported: it
        runs again with its new inputs (its cache entry stays valid for the old ones)."""
        if self.steps[step.name] is step:
            return False
        self._stale.discard(step.name)
        self.resolved.pop(step.name, None)
        self.metrics.pop(step.name, None)
        self.results[step.name].status = "pending"
        return True

    def _halt_on_state_conflict(self) -> bool:
        c = self._state_conflict
        if c is None or self.results[c.consumer].status == "failed":
            return False
        res = self.results[c.consumer]
        res.error = f"{c.message()}; fix: {c.fix()}"
        res.cell = c.draw_cell
        res.status = "failed"
        if self.progress is not None:
            self.progress(RunEvent(self.run_id, c.consumer, "failed", res.seconds, res.error))
        return True

    def _rerun(self, consumer: str, writer: str, what: str) -> None:
        """A re-planned consumer and what follows it run (again) with the new inputs,
        whatever their state: a step that failed for want of ``what`` (it ran beside
        ``writer`` before the write was known) gets a new attempt that replaces the failure;
        the steps skipped below it are still pending and start once it succeeds."""
        for name in replan.descendants(self.steps, {consumer}):
            status = self.results[name].status
            if status == "running":
                self._stale.add(name)
            elif status in ("succeeded", "cached"):
                self.resolved.pop(name, None)
                self.metrics.pop(name, None)
                self.results[name].status = "pending"
            elif status == "failed" and self._replaceable(name):
                self._replace_failure(name, writer, what)

    def _replaceable(self, name: str) -> bool:
        """A failure a new attempt may replace: not a conflict's verdict, not a cancel."""
        if self._conflict is not None and self._conflict.second == name:
            return False
        if self._state_conflict is not None and self._state_conflict.consumer == name:
            return False
        return self.results[name].error != "cancelled"

    def _replace_failure(self, name: str, writer: str, what: str) -> None:
        """Keep ``name``'s failed attempt for the record, say so, and make it pending."""
        res = self.results[name]
        self.replaced_failures[name] = {
            "error": res.error,
            "cell": res.cell,
            "traceback": res.traceback,
            "seconds": round(res.seconds, 3),
            "writer": writer,
            "variable": what,
        }
        head = (
            f"step {name} failed ({res.error}) before {writer} reported its change of "
            f"`{what}`, which the analysis did not see"
        )
        self.notices.setdefault(name, []).append(
            f"{head}; it ran again with `{what}` from {writer}, and that attempt replaces the "
            "failure"
        )
        res.notes = list(self.notices[name])
        res.error = res.cell = res.traceback = res.report = None
        self.resolved.pop(name, None)
        self.metrics.pop(name, None)
        self._set(name, "pending", f"{head}; it runs again with `{what}` from {writer}")

    def _may_start(self, name: str) -> bool:
        """After a failure only the steps before a failed one (notebook order) start: top to
        bottom they run before it, so an undeclared write of theirs may re-plan it."""
        if self._halted:
            return False
        failed = [self._pos[n] for n, r in self.results.items() if r.status == "failed"]
        return not failed or self._pos[name] < max(failed)

    def _set(self, name: str, status: str, message: str | None = None) -> None:
        result = self.results[name]
        result.status = status  # type: ignore[assignment]
        if self.progress is not None:
            self.progress(RunEvent(self.run_id, name, status, result.seconds, message))

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
        sdir = self.step_dir(step.name)
        sdir.mkdir(parents=True, exist_ok=True)
        for name in (REPORT, NOTEBOOK):
            if (entry.path / name).is_file() and not (sdir / name).exists():
                _link_or_copy(entry.path / name, sdir / name)
        (sdir / "log.txt").write_text(
            f"cached: results reused from cache entry {entry.key} "
            f"(first computed in run {entry.meta.get('run_id')})\n",
            encoding="utf-8",
        )
        self._finish_step_dir(step.name, entry)

    def _finish_step_dir(self, name: str, entry: cachemod.Entry) -> None:
        sdir = self.step_dir(name)
        (sdir / "metrics.json").write_text(json.dumps(entry.metrics, default=repr), "utf-8")
        link = sdir / "artifacts"
        if link.is_symlink():  # a step that ran again (re-planned) links its new entry
            link.unlink()
        if not link.exists():
            try:
                link.symlink_to(os.path.relpath(entry.path / OUTPUTS, sdir))
            except OSError:
                (sdir / "artifacts.txt").write_text(str(entry.path / OUTPUTS), "utf-8")
        files = sdir / workspaces.WORKSPACE  # the files the step wrote, for the user
        if files.is_symlink():
            files.unlink()
        if (entry.path / workspaces.WORKSPACE).is_dir() and not files.exists():
            try:
                files.symlink_to(os.path.relpath(entry.path / workspaces.WORKSPACE, sdir))
            except OSError:
                pass
        if (sdir / REPORT).is_file():
            self.results[name].report = str(sdir / REPORT)
        self.results[name].outputs = entry.outputs

    # -- executed steps -----------------------------------------------------------------
    def _job(self, step: Step, key: str) -> Job:
        tmp = self.cache.begin(key)
        self._tmp[step.name] = tmp
        (tmp / OUTPUTS).mkdir()
        sdir = self.step_dir(step.name)
        sdir.mkdir(parents=True, exist_ok=True)
        report_on = step.settings.report is not False
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
            modules=tuple(sorted(set(step.modules) | self._imports(step))),
            timeout=float(step.settings.timeout) if step.settings.timeout else None,
        )

    def _imports(self, step: Step) -> set[str]:
        """Dotted modules the prelude and the step import (``sklearn.linear_model``)."""
        import ast

        found: set[str] = set()
        for src in (*self.pipeline.prelude_for(step).imports, *step.sources):
            try:
                tree = ast.parse(src)
            except (SyntaxError, ValueError):  # magics: the hint is only an optimisation
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
        return found

    def _execute(self, step: Step, job: Job) -> Outcome:
        """Run ``job`` (in a pool thread), retrying as the step's ``retry:`` tag allows."""
        attempts = 1 + max(0, step.settings.retries or 0)
        outcome = Outcome(ok=False, error="not run")
        for attempt in range(attempts):
            try:
                workspaces.prepare_workdir(Path(job.cwd), self.base_dir, step.file_writes)
                outcome = self.executor(job)
            except Exception as exc:  # the engine's own failure still ends as a failed step
                import traceback

                outcome = Outcome(
                    ok=False,
                    error=f"could not run the step: {type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
            if outcome.ok or attempt == attempts - 1 or outcome.error == "cancelled":
                break
            # A fresh start for the next attempt: nothing of the failed one is kept.
            tmp = Path(job.state_output).parent
            shutil.rmtree(tmp / OUTPUTS, ignore_errors=True)
            (tmp / OUTPUTS).mkdir()
            for leftover in (tmp / STATE, tmp / VALUES, tmp / workspaces.WORKSPACE):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                elif leftover.exists():
                    leftover.unlink()
        return outcome

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
                _link_or_copy(sdir / name, tmp / name)
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

    def _halt_on_conflict(self, name: str) -> bool:
        """A conflict of parallel writers fails the run at the later step (notebook order)."""
        c = self._conflict
        if c is None or self.results[c.second].status == "failed":
            return False
        res = self.results[c.second]
        res.error = f"{c.message()}; fix: {c.fix()}"
        res.cell = c.second_cell if c.second_cell is not None else c.fix_cell
        res.status = "failed"
        if self.progress is not None:
            self.progress(RunEvent(self.run_id, c.second, "failed", res.seconds, res.error))
        return True

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
            raise self._missing_producer(step)
        self.results[step.name].seconds = 0.0
        self._use_entry(step, entry)
        note = self._observe_all(
            step.name, entry.meta.get("observed") or [], entry.meta.get("state_observed")
        )
        self._set(step.name, "cached", note)

    def _missing_producer(self, missing: Step) -> UsageError:
        """Name what a selected step needs and which producer has no cached result."""
        selected = [
            s
            for s in self.pipeline.steps
            if s.name in self.plan.force and s.name not in self.plan.skip
        ]
        for sel in selected:
            needs = {p for p in _edges(sel) if p in self.plan.resolve}
            direct = sorted(needs, key=self.pipeline.step_names.index)
            for producer in direct:
                if producer != missing.name and missing.name not in ancestors(
                    self.pipeline, {producer}
                ):
                    continue
                variables = [v for v, p in sel.inputs if p == producer]
                what = ", ".join(map(repr, variables)) if variables else "results"
                upstream = (
                    ""
                    if producer == missing.name
                    else f" (its upstream step {missing.name!r} has none)"
                )
                return UsageError(
                    f"--only: step {sel.name!r} needs {what} from step {producer!r}, which has "
                    f"no cached result for the current code and parameters{upstream}",
                    kind="missing-producer",
                    fix=f"run the whole pipeline once, or add --only {producer}",
                )
        return UsageError(
            f"--only: step {missing.name!r} has no cached result for the current code and "
            "parameters, and the selected steps need it",
            kind="missing-producer",
            fix=f"run the whole pipeline once, or add --only {missing.name}",
        )

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
                progressed = False
                if not self._halted:
                    for step in [self.steps[s.name] for s in self.pipeline.steps]:
                        if len(running) >= self.jobs:
                            break
                        step = self.steps[step.name]  # re-planned by a step just before
                        if self.results[step.name].status != "pending":
                            continue
                        if not self._may_start(step.name):
                            continue
                        if not all(
                            self.results[p].status in ("succeeded", "cached") for p in _edges(step)
                        ):
                            continue
                        key = self._key(step)
                        entry = self._lookup(step, key)
                        if entry is not None:
                            self._use_entry(step, entry)
                            note = self._observe_all(
                                step.name,
                                entry.meta.get("observed") or [],
                                entry.meta.get("state_observed"),
                            )
                            self._set(step.name, "cached", note)
                            if self._halt_on_conflict(step.name):
                                self._halted = True
                            if self._halt_on_state_conflict():
                                self._halted = True
                            self._replanned(step)
                            progressed = True
                            continue
                        job = self._job(step, key)
                        self.lineage[step.name].started = time.time()
                        self._set(step.name, "running")
                        running[pool.submit(self._execute, step, job)] = (
                            step,
                            key,
                            time.perf_counter(),
                        )
                        progressed = True
                if progressed:
                    self.on_change()
                    continue
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                order = self.pipeline.step_names
                for fut in sorted(done, key=lambda f: order.index(running[f][0].name)):
                    step, key, t0 = running.pop(fut)
                    outcome = fut.result()
                    result = self.results[step.name]
                    result.seconds = time.perf_counter() - t0
                    self.lineage[step.name].finished = time.time()
                    if self._conflict is not None and self._conflict.second == step.name:
                        self.cache.discard(self._tmp.pop(step.name))  # failed by the conflict
                        continue
                    if step.name in self._stale:  # re-planned while running: run again
                        self._stale.discard(step.name)
                        self.cache.discard(self._tmp.pop(step.name))
                        if outcome.ok and outcome.observed:
                            self.observed[step.name] = list(outcome.observed)
                        result.status = "pending"
                        continue
                    if outcome.ok:
                        self._commit(step, key, outcome)
                        note = self._observe_all(
                            step.name, outcome.observed, outcome.state_observed
                        )
                        why = self.rerun_reasons.get(step.name)  # shown first
                        note = "; ".join(filter(None, (why, note))) or None
                        self._set(step.name, "succeeded", note)
                        if self._halt_on_conflict(step.name):
                            self._halted = True
                        if self._halt_on_state_conflict():
                            self._halted = True
                        self._replanned(step)
                    else:
                        self.cache.discard(self._tmp.pop(step.name))
                        result.error = outcome.error
                        result.cell = outcome.cell
                        result.traceback = outcome.traceback
                        if (self.step_dir(step.name) / REPORT).is_file():
                            result.report = str(self.step_dir(step.name) / REPORT)
                        self._set(step.name, "failed", outcome.error)
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


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        if dst.exists():
            dst.unlink()
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
