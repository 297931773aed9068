"""The local sweep runner: trials are local-engine runs sharing one run root (and cache).

Every trial calls ``run_fn(notebook, parameters=..., run_root=..., use_cache=True)`` with the
same run root, so a step that reads no swept parameter has the same cache key in every
trial and runs once. With ``parallel > 1`` the first trial runs alone, so that shared
upstream work is in the cache before trials start racing for it.

The state file ``sweep.json`` is rewritten atomically after every trial; Ctrl-C stops
proposing trials, keeps the finished ones, and ``resume`` picks up the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import KaleError, UsageError
from ..fsutil import write_json_atomic
from .algorithms import make_algorithm
from .space import Dimension
from .trials import (
    SweepEvent,
    SweepProgress,
    SweepResult,
    Trial,
    best_trial,
    objective_value,
    prewarm_plotting,
    write_results,
)

STATE_FILE = "sweep.json"
STATE_VERSION = 1

RunFn = Callable[..., Any]


@dataclass
class SweepState:
    """What ``--resume`` needs: the sweep's settings and its finished trials."""

    sweep_id: str
    notebook: str
    space: dict[str, str]  # name -> spec, in order
    metric: str
    direction: str
    algorithm: str
    trials: int
    parallel: int = 1
    max_failed: int | None = None
    seed: int = 0
    grid_points: int | None = None
    run_root: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)  # parameters held constant
    status: str = "running"
    results: list[dict[str, Any]] = field(default_factory=list)
    version: int = STATE_VERSION

    def save(self, sweep_dir: Path) -> None:
        write_json_atomic(sweep_dir / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, sweep_dir: Path) -> SweepState:
        import json

        path = sweep_dir / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot resume: no readable sweep state at {str(path)!r} ({exc})",
                kind="unknown-sweep",
                fix="pass the sweep id printed by `kale-like sweep`, and the same --run-root",
            ) from None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def trial_from_run(number: int, params: dict[str, Any], result: Any, metric: str) -> Trial:
    """A finished run -> a Trial (``cached`` when every step came from the cache)."""
    steps = getattr(result, "steps", {}) or {}
    trial = Trial(number, params, run_id=getattr(result, "run_id", None))
    trial.metrics = dict(getattr(result, "metrics", {}) or {})
    if getattr(result, "status", None) != "succeeded":
        failed = next((s for s in steps.values() if s.status == "failed"), None)
        if failed is None:
            trial.error = f"run {result.status}"
        elif str(failed.error or "").startswith(f"step {failed.name!r}"):
            trial.error = str(failed.error)  # the engine already names the step (and cell)
        else:
            trial.error = f"step {failed.name!r} failed: {failed.error}"
        return trial
    trial.objective = objective_value(trial.metrics.get(metric))
    if trial.objective is None:
        got = trial.metrics.get(metric, "nothing")
        trial.error = f"metric {metric!r} is not a number (got {got!r})"
        return trial
    all_cached = bool(steps) and all(s.status == "cached" for s in steps.values())
    trial.status = "cached" if all_cached else "succeeded"
    return trial


class LocalSweep:
    """Runs the trials of one sweep; ``run()`` returns when done, stopped or interrupted."""

    def __init__(
        self,
        state: SweepState,
        dims: list[Dimension],
        sweep_dir: Path,
        run_fn: RunFn,
        progress: SweepProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.state = state
        self.dims = dims
        self.sweep_dir = sweep_dir
        self.run_fn = run_fn
        self.progress = progress
        self.cancel = cancel  # set from another thread to stop after the running trials
        self.names = [d.name for d in dims]
        self.target: Any = state.notebook  # what run_fn runs: a notebook path (or a Pipeline)
        self.algorithm = make_algorithm(
            state.algorithm,
            dims,
            seed=state.seed,
            direction=state.direction,
            grid_points=state.grid_points,
        )
        self.done: dict[int, Trial] = {}
        for record in state.results:
            trial = Trial.from_record(record)
            self.done[trial.number] = trial
            self.algorithm.tell(trial)

    # -- one trial ----------------------------------------------------------------------

    def _run_trial(self, number: int, params: dict[str, Any]) -> Trial:
        start = time.monotonic()
        try:
            result = self.run_fn(
                self.target,
                parameters={**self.state.fixed, **params},
                run_root=self.state.run_root,
                use_cache=True,
            )
            if getattr(result, "status", None) == "cancelled":
                raise KeyboardInterrupt  # the run was stopped: not a result, redo on resume
            trial = trial_from_run(number, params, result, self.state.metric)
        except KaleError as err:  # a failed run is a failed trial, not a failed sweep
            trial = Trial(number, params, error=str(err).splitlines()[0])
        except Exception as err:  # noqa: BLE001 - an engine bug must not lose the sweep
            trial = Trial(number, params, error=f"{type(err).__name__}: {err}")
        trial.seconds = time.monotonic() - start
        return trial

    # -- the loop -----------------------------------------------------------------------

    def _emit(self, kind: str, **kw: Any) -> None:
        if self.progress is not None:
            self.progress(
                SweepEvent(
                    self.state.sweep_id,
                    kind,  # type: ignore[arg-type]
                    total=self.state.trials,
                    finished=len(self.done),
                    best=best_trial(list(self.done.values()), self.state.direction),
                    **kw,
                )
            )

    def _failed(self) -> int:
        return sum(1 for t in self.done.values() if not t.ok)

    def _too_many_failed(self) -> bool:
        limit = self.state.max_failed
        return limit is not None and self._failed() > limit

    def _record(self, trial: Trial) -> None:
        self.done[trial.number] = trial
        self.algorithm.tell(trial)
        self.state.results = [
            t.to_record() for t in sorted(self.done.values(), key=lambda t: t.number)
        ]
        self.state.save(self.sweep_dir)
        self._emit("finished", number=trial.number, parameters=trial.parameters, trial=trial)

    def result(self) -> SweepResult:
        return SweepResult(
            sweep_id=self.state.sweep_id,
            metric=self.state.metric,
            direction=self.state.direction,  # type: ignore[arg-type]
            trials=sorted(self.done.values(), key=lambda t: t.number),
            status=self.state.status,
            sweep_dir=str(self.sweep_dir),
        )

    def run(self) -> SweepResult:
        pending = [n for n in range(self.state.trials) if n not in self.done]
        if pending:
            prewarm_plotting()
        self.state.status = "running"
        self.state.save(self.sweep_dir)
        try:
            if self.state.parallel <= 1:
                self._serial(pending)
            else:
                self._parallel(pending)
            if self._cancelled():
                self.state.status = "interrupted"
            else:
                self.state.status = "max-failed" if self._too_many_failed() else "completed"
        except KeyboardInterrupt:  # stop cleanly: finished trials are saved, resume continues
            self.state.status = "interrupted"
        except BaseException:  # e.g. a progress callback cancelling: still resumable
            self.state.status = "interrupted"
            self._write()
            raise
        result = self._write()
        self._emit("done")
        return result

    def _write(self) -> SweepResult:
        self.state.save(self.sweep_dir)
        result = self.result()
        write_results(result, self.sweep_dir, self.names)
        return result

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def _stop(self) -> bool:
        """No new trial: too many failed, or cancelled."""
        return self._too_many_failed() or self._cancelled()

    def _serial(self, pending: list[int]) -> None:
        # In the calling thread: the engine may install signal handlers (main thread only).
        for number in pending:
            if self._stop():
                return
            params = self.algorithm.ask(number)
            self._emit("started", number=number, parameters=params)
            self._record(self._run_trial(number, params))

    def _parallel(self, pending: list[int]) -> None:
        warm = not any(t.ok for t in self.done.values())
        running: dict[Future[Trial], int] = {}
        pool = ThreadPoolExecutor(max_workers=self.state.parallel, thread_name_prefix="trial")
        try:
            while pending or running:
                limit = 1 if warm else self.state.parallel
                while pending and len(running) < limit and not self._stop():
                    number = pending.pop(0)
                    params = self.algorithm.ask(number)
                    self._emit("started", number=number, parameters=params)
                    running[pool.submit(self._run_trial, number, params)] = number
                if not running:
                    return
                # A timeout keeps the main thread responsive to Ctrl-C.
                finished, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for fut in finished:
                    running.pop(fut)
                    self._record(fut.result())
                    warm = False
        finally:
            pool.shutdown(wait=not running, cancel_futures=True)
