"""Run one step in its own process: ``python -m kale_like.runtime JOB.json``.

The executor is a plain callable ``(Job) -> Outcome`` so the scheduler can be driven by a
fake in tests; :class:`SubprocessExecutor` is the real one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...fsutil import tail_text


@dataclass
class Job:
    """What one step execution needs; ``to_json`` is the runtime's job-file contract."""

    step: str
    spec: dict[str, Any]
    inputs: dict[str, str]  # variable -> path of the producer's saved value
    state_inputs: dict[str, str]  # state kind -> path of the producer's state snapshot
    outputs: dict[str, str]  # variable -> path to save it to
    state_output: str
    parameters: dict[str, Any]
    report_path: str | None
    notebook_path: str | None
    result_path: str
    job_path: str
    log_path: str
    cwd: str
    keep_dir: str | None = None  # where to save every final global (keep_values runs)
    env: dict[str, str] = field(default_factory=dict)  # `env:` tags of the step
    timeout: float | None = None  # `timeout:` tag, seconds
    modules: tuple[str, ...] = ()  # top-level modules the step imports (a warm start hint)
    observe_dir: str | None = None  # where undeclared writes later steps read are saved
    workspace_inputs: list[str] = field(default_factory=list)  # upstream workspaces, in order
    workspace_output: str | None = None  # where the step's changed files go

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"keep_dir": self.keep_dir} if self.keep_dir else {}
        if self.workspace_output:
            extra["workspace_inputs"] = self.workspace_inputs
            extra["workspace_output"] = self.workspace_output
        return {
            **extra,
            "spec": self.spec,
            "inputs": self.inputs,
            "state_inputs": self.state_inputs,
            "outputs": self.outputs,
            "state_output": self.state_output,
            "parameters": self.parameters,
            "report_path": self.report_path,
            "notebook_path": self.notebook_path,
            "result_path": self.result_path,
            **({"observe_dir": self.observe_dir} if self.observe_dir else {}),
        }


@dataclass
class Outcome:
    """What came back from a step process."""

    ok: bool
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # variable -> digest
    error: str | None = None  # "ZeroDivisionError: division by zero"
    exc_type: str | None = None
    cell: int | None = None
    traceback: str | None = None
    observed: list[dict[str, Any]] = field(default_factory=list)  # undeclared writes
    state_observed: list[dict[str, Any]] = field(default_factory=list)  # RNG kinds changed
    kind: str | None = None  # the runtime's error kind, e.g. "undeclared-write"


Executor = Callable[[Job], Outcome]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # A source checkout (not pip-installed) must still be importable by the step process.
    root = str(Path(__file__).resolve().parents[3])
    parts = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    if root not in parts:
        try:
            from importlib.metadata import distribution

            distribution("kale-like")
        except Exception:
            env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


class SubprocessExecutor:
    """Starts one Python process per step; :meth:`cancel` kills every live one."""

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._cancelled = False
        self._env = _child_env()

    def __call__(self, job: Job) -> Outcome:
        Path(job.job_path).write_text(json.dumps(job.to_json(), default=repr), encoding="utf-8")
        start = time.perf_counter()
        with open(job.log_path, "wb") as log:
            with self._lock:
                if self._cancelled:
                    return Outcome(ok=False, error="cancelled")
                module = "kale_like.engines.local.stepmain" if job.keep_dir else "kale_like.runtime"
                proc = subprocess.Popen(
                    [self.python, "-m", module, job.job_path],
                    cwd=job.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**self._env, **job.env},
                    start_new_session=True,  # Ctrl-C reaches us; we stop the children
                )
                self._procs.add(proc)
            try:
                try:
                    code = proc.wait(timeout=job.timeout)
                except subprocess.TimeoutExpired:
                    _stop_group(proc.pid)
                    proc.wait()
                    return timed_out(job, time.perf_counter() - start)
            finally:
                with self._lock:
                    self._procs.discard(proc)
        seconds = time.perf_counter() - start
        return read_outcome(Path(job.result_path), code, Path(job.log_path), seconds)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            procs = list(self._procs)
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 3
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def timed_out(job: Job, seconds: float) -> Outcome:
    return Outcome(
        ok=False,
        seconds=seconds,
        error=f"step {job.step!r} timed out after {job.timeout:g} s (its `timeout:` tag)",
        exc_type="TimeoutError",
        traceback=tail_text(Path(job.log_path)) or None,
    )


def _stop_group(pid: int, grace: float = 3.0) -> None:
    """SIGTERM the step's process group, SIGKILL it if still there after ``grace``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_outcome(result_path: Path, code: int, log_path: Path, seconds: float) -> Outcome:
    """Parse the runtime's result file; a crash without one becomes a failure with the log tail."""
    try:
        data = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        tail = tail_text(log_path)
        why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        return Outcome(
            ok=False,
            seconds=seconds,
            error=f"step process ended without a result ({why})",
            traceback=tail or None,
        )
    err = data.get("error") or {}
    ok = code == 0 and not err and data.get("ok", data.get("status", "succeeded") != "failed")
    exc_type = err.get("exc_type") or err.get("type")
    message = err.get("message") or err.get("error")
    # StepResult.error is the bare "Type: message"; the step and cell have fields of their own.
    summary = err.get("summary") or message or exc_type
    if exc_type and summary and exc_type not in summary:
        summary = f"{exc_type}: {summary}"
    if not ok and summary is None:
        summary = f"step failed (exit code {code})"
    return Outcome(
        ok=bool(ok),
        seconds=float(data.get("seconds", seconds) or seconds),
        metrics=dict(data.get("metrics") or {}),
        outputs=dict(data.get("outputs") or {}),
        error=None if ok else summary,
        exc_type=exc_type,
        cell=err.get("cell"),
        traceback=err.get("traceback") or (None if ok else tail_text(log_path)),
        observed=list(data.get("observed") or []),
        state_observed=list(data.get("state_observed") or []),
        kind=err.get("error"),
    )
