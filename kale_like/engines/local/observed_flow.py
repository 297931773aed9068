"""What the scheduler does when steps report what they did: the observed data flow.

A step's undeclared writes and RNG-state draws re-plan the steps that read them
(:mod:`.replan`): those run (again) with the new inputs, a failure they caused is replaced
by the new attempt, and a conflict of parallel writers fails the run at the later step.
"""

from __future__ import annotations

from typing import Any

from ...model import Pipeline, Step
from ...run_results import ProgressCallback, RunEvent, StepResult
from . import replan


class ObservedFlow:
    """The scheduler's reaction to observations (a base of :class:`.scheduler.Scheduler`,
    which sets these attributes)."""

    run_id: str
    pipeline: Pipeline
    progress: ProgressCallback | None
    results: dict[str, StepResult]
    resolved: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    steps: dict[str, Step]  # the current version of each step (inputs re-planned)
    observed: dict[str, list[dict[str, Any]]]
    notices: dict[str, list[str]]
    _stale: set[str]  # running steps re-planned meanwhile: run again when they end
    _conflict: replan.Conflict | None
    state_facts: dict[str, list[dict[str, Any]]]
    _state_records: dict[str, list[dict[str, Any]]]
    _state_conflict: replan.StateConflict | None
    _halted: bool
    _pos: dict[str, int]
    replaced_failures: dict[str, dict[str, Any]]

    def _observe(self, name: str, writes: list[dict[str, Any]]) -> str | None:
        """Route ``name``'s undeclared writes to their readers; the notice to show, if any."""
        self.observed[name] = list(writes)
        if not writes:
            return None
        routes, conflict = replan.route(self.pipeline, self.steps, name, writes, self.observed)
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

    def _halt_on_conflict(self) -> bool:
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
