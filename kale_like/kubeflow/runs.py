"""A Kubeflow Pipelines run as kale_like sees it: :class:`RunSnapshot` of a ``get_run``
answer, with KFP's task names told as the notebook's step names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..run_results import StepResult, StepStatus

FINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}

# KFP runtime state -> our run / step status words (results.RunStatus, results.StepStatus).
RUN_STATUS = {
    "SUCCEEDED": "succeeded",
    "SKIPPED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "cancelled",
    "CANCELING": "cancelled",
}
STEP_STATUS: dict[str, StepStatus] = {
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "SKIPPED": "skipped",
    "FAILED": "failed",
    "CANCELED": "skipped",
    "CANCELING": "running",
    "PAUSED": "running",
    "CACHED": "cached",
}


@dataclass
class RunSnapshot:
    """A remote run as seen at one poll."""

    run_id: str
    state: str  # KFP runtime state, upper case
    status: str  # running | succeeded | failed | cancelled
    name: str = ""
    experiment_id: str | None = None
    pipeline_version_id: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    steps: dict[str, StepResult] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "state": self.state,
            "status": self.status,
            "experiment_id": self.experiment_id,
            "pipeline_version_id": self.pipeline_version_id,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "parameters": self.parameters,
            "steps": {n: s.to_json() for n, s in self.steps.items()},
        }


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute of a kfp_server_api model, or key of the same thing as a dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _state(value: Any) -> str:
    return str(value or "RUNTIME_STATE_UNSPECIFIED").upper().rsplit(".", 1)[-1]


def _error_text(err: Any) -> str | None:
    if not err:
        return None
    msg = _get(err, "message")
    return str(msg) if msg else None


def snapshot(run: Any, task_names: dict[str, str] | None = None) -> RunSnapshot:
    """A :class:`RunSnapshot` of a ``V2beta1Run``; ``task_names`` maps task names to steps.

    With ``task_names``, only those tasks are reported (drivers and the root DAG are not
    steps); without, every task but the root and drivers is.
    """
    state = _state(_get(run, "state"))
    steps: dict[str, StepResult] = {}
    details = _get(run, "run_details")
    for task in (_get(details, "task_details") or []) if details else []:
        tname = str(_get(task, "display_name") or "")
        if task_names is not None:
            if tname not in task_names:
                continue
            step = task_names[tname]
        elif not tname or tname == "root" or tname.endswith("-driver"):
            continue
        else:
            step = tname
        res = StepResult(step, status=STEP_STATUS.get(_state(_get(task, "state")), "pending"))
        start, end = _get(task, "start_time"), _get(task, "end_time")
        if start and end and hasattr(start, "timestamp") and hasattr(end, "timestamp"):
            res.seconds = max(0.0, end.timestamp() - start.timestamp())
        res.error = _error_text(_get(task, "error"))
        steps[step] = res
    rc = _get(run, "runtime_config")
    created, finished = _get(run, "created_at"), _get(run, "finished_at")
    return RunSnapshot(
        run_id=str(_get(run, "run_id")),
        state=state,
        status=RUN_STATUS.get(state, "running"),
        name=str(_get(run, "display_name") or ""),
        experiment_id=_get(run, "experiment_id"),
        pipeline_version_id=_get(
            _get(run, "pipeline_version_reference") or {}, "pipeline_version_id"
        )
        or _get(run, "pipeline_version_id"),
        created_at=str(created) if created else None,
        finished_at=str(finished) if finished else None,
        error=_error_text(_get(run, "error")),
        steps=steps,
        parameters=dict(_get(rc, "parameters") or {}) if rc else {},
    )


def task_step_names(spec: dict[str, Any], step_names: list[str] | None = None) -> dict[str, str]:
    """Task display names of a compiled pipeline spec (root DAG) -> step names."""
    out: dict[str, str] = {}
    wanted = set(step_names or [])
    for key, task in ((spec.get("root") or {}).get("dag") or {}).get("tasks", {}).items():
        shown = str((task.get("taskInfo") or {}).get("name") or key)
        step = shown
        for candidate in (shown, key, key.replace("-", "_"), shown.replace("-", "_")):
            if candidate in wanted:
                step = candidate
                break
        out[shown] = step
        out.setdefault(key, step)
    return out
