"""Background jobs of the server extension: long verbs (run, build, deploy, sweep) run in a
small thread pool; the front end polls their state and may cancel them.

The manager knows nothing of HTTP; a job is a callable taking a :class:`JobContext`, through
which it reports per-step progress and checks for cancellation. A job's cancel token is a
:class:`~kale_like.engines.CancelToken` handed to the verb (``run(cancel=...)``): the local
engine kills the running step as soon as it is set. Workers are daemon threads and
:meth:`JobManager.shutdown` cancels every job and waits a bounded time, so stopping the
server never hangs on a job.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

from ..engines import CancelToken

JobStatus = str  # "queued" | "running" | "succeeded" | "failed" | "cancelled"
_FINAL = ("succeeded", "failed", "cancelled")


class JobCancelled(Exception):
    """Raised inside a job (by :meth:`JobContext.check`) once the user asked to cancel."""


@dataclass
class StepState:
    status: str = "pending"
    seconds: float = 0.0
    started: float | None = None
    message: str | None = None


@dataclass
class Job:
    """One background job and everything the status endpoint shows about it."""

    id: str
    kind: str
    notebook: str | None
    status: JobStatus = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    run_id: str | None = None
    result: Any = None  # JSON-able result of the verb
    error: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    cancel_event: threading.Event = field(default_factory=CancelToken)
    future: Future[Any] | None = None

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def to_json(self) -> dict[str, Any]:
        now = time.time()
        steps = {}
        for name, s in self.steps.items():
            seconds = s.seconds
            if s.status == "running" and s.started is not None:
                seconds = now - s.started
            steps[name] = {"status": s.status, "seconds": round(seconds, 3)}
            if s.message:
                steps[name]["message"] = s.message
        return {
            "id": self.id,
            "kind": self.kind,
            "notebook": self.notebook,
            "status": self.status,
            "run_id": self.run_id,
            "elapsed": round(self.elapsed, 3),
            "steps": steps,
            "result": self.result,
            "error": self.error,
            "log": self.log[-50:],
        }


class JobContext:
    """What a running job sees: progress reporting and cancellation."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self._job = job
        self._lock = lock

    @property
    def cancel_event(self) -> threading.Event:
        return self._job.cancel_event

    def check(self) -> None:
        if self._job.cancel_event.is_set():
            raise JobCancelled()

    def set_steps(self, names: list[str]) -> None:
        with self._lock:
            for name in names:
                self._job.steps.setdefault(name, StepState())

    def step(
        self, name: str, status: str, seconds: float = 0.0, message: str | None = None
    ) -> None:
        with self._lock:
            state = self._job.steps.setdefault(name, StepState())
            if status == "running" and state.started is None:
                state.started = time.time()
            elif status != "running" and seconds == 0.0 and state.started is not None:
                seconds = time.time() - state.started
            state.status = status
            state.seconds = seconds
            if message:
                state.message = message

    def set_run_id(self, run_id: str) -> None:
        with self._lock:
            self._job.run_id = run_id

    def log(self, line: str) -> None:
        with self._lock:
            self._job.log.append(line)


class JobManager:
    """A bounded pool of background jobs, looked up by id."""

    def __init__(self, max_workers: int = 2, keep: int = 100) -> None:
        # Daemon workers, not a ThreadPoolExecutor: the interpreter joins those at exit, so a
        # job that does not end would hang the server's shutdown.
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], None]] | None] = (
            queue.SimpleQueue()
        )
        self._workers = [
            threading.Thread(target=self._work, name=f"kale-like-{i}", daemon=True)
            for i in range(max_workers)
        ]
        for worker in self._workers:
            worker.start()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep
        self._closed = False

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - kept on the future
                future.set_exception(exc)

    def submit(
        self,
        kind: str,
        fn: Callable[[JobContext], Any],
        *,
        notebook: str | None = None,
        error_json: Callable[[BaseException], dict[str, Any]],
    ) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, notebook=notebook)
        with self._lock:
            self._jobs[job.id] = job
            self._prune()
        ctx = JobContext(job, self._lock)

        def work() -> None:
            if job.cancel_event.is_set():
                self._finish(job, "cancelled")
                return
            with self._lock:
                job.status = "running"
                job.started = time.time()
            try:
                result = fn(ctx)
            except JobCancelled:
                self._finish(job, "cancelled")
            except BaseException as exc:  # noqa: BLE001 - reported to the client, not lost
                with self._lock:
                    job.error = error_json(exc)
                self._finish(job, "cancelled" if job.cancel_event.is_set() else "failed")
            else:
                with self._lock:
                    job.result = result
                status = "succeeded"
                if isinstance(result, dict) and result.get("status") in ("failed", "cancelled"):
                    status = str(result["status"])
                self._finish(job, status)

        job.future = Future()
        if self._closed:
            job.future.cancel()
            self._finish(job, "cancelled")
            return job
        self._queue.put((job.future, work))
        return job

    def _finish(self, job: Job, status: str) -> None:
        with self._lock:
            job.status = status
            job.finished = time.time()
            for state in job.steps.values():
                # Steps still marked running when the job ended did not finish.
                if state.status == "running":
                    state.status = "cancelled" if status == "cancelled" else "failed"
                    if state.started is not None:
                        state.seconds = job.finished - state.started

    def _prune(self) -> None:
        done = [j for j in self._jobs.values() if j.status in _FINAL]
        for job in sorted(done, key=lambda j: j.created)[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_json()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [j.to_json() for j in sorted(self._jobs.values(), key=lambda j: j.created)]

    def cancel(self, job_id: str) -> Job | None:
        job = self.get(job_id)
        if job is not None and job.status not in _FINAL:
            job.cancel_event.set()
            if job.future is not None and job.future.cancel():
                self._finish(job, "cancelled")
        return job

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every job (running steps are killed) and wait at most ``timeout`` seconds
        for them to end, so their run records say "cancelled"; never longer."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel_event.set()
            if job.future is not None and job.future.cancel():
                self._finish(job, "cancelled")
        for _ in self._workers:
            self._queue.put(None)
        pending = [j.future for j in jobs if j.future is not None and not j.future.done()]
        if pending:
            wait_futures(pending, timeout=timeout)
