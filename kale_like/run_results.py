"""Results of runs, shared by every engine and every front end (CLI, server, widgets, sweeps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

StepStatus = Literal["pending", "running", "succeeded", "cached", "failed", "skipped"]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]


@dataclass
class StepResult:
    """What happened to one step in one run."""

    name: str
    status: StepStatus = "pending"
    seconds: float = 0.0
    error: str | None = None  # one-line summary, e.g. "ZeroDivisionError: division by zero"
    traceback: str | None = None  # the user's traceback (runtime frames removed)
    cell: int | None = None  # notebook cell index of a failure
    report: str | None = None  # path of the step's HTML report
    outputs: dict[str, str] = field(default_factory=dict)  # variable -> content digest
    # Re-planning notices: writes the analysis did not see, and where their values now go.
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3)}
        if self.error is not None:
            out["error"] = self.error
            out["cell"] = self.cell
        if self.notes:
            out["notes"] = list(self.notes)
        if self.report is not None:
            out["report"] = self.report
        return out


@dataclass
class RunResult:
    """A whole run. ``to_json`` is the stable ``kale-like run --json`` contract."""

    run_id: str
    status: RunStatus
    metrics: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    engine: str = "local"
    values: dict[str, Any] = field(default_factory=dict)  # final variable values when asked

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "metrics": self.metrics,
            "steps": {name: s.to_json() for name, s in self.steps.items()},
        }

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps.values() if s.status == "failed"), None)


@dataclass(frozen=True)
class RunEvent:
    """A progress event: a step changed state (or ``step`` is None for the run itself)."""

    run_id: str
    step: str | None
    status: str
    seconds: float = 0.0
    message: str | None = None


ProgressCallback = Callable[[RunEvent], None]
