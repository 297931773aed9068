"""Executor that starts step processes from the zygote (see :mod:`.zygote`), the keeper
that owns them (see :mod:`.procs` for the lifecycle rules)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

from .executor import (
    Job,
    Outcome,
    SubprocessExecutor,
    _child_env,
    read_outcome,
    timed_out,
)
from .procs import GRACE, kill_step

STEPMAIN = "kale_like.engines.local.stepmain"


class _Waiter:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.done = threading.Event()
        self.pid: int | None = None
        self.code: int = -1
        self.timed_out = False  # the keeper enforced the step's `timeout:`


class Zygote:
    """One running zygote process and the thread that reads its replies."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [python, "-m", "kale_like.engines.local.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,  # Ctrl-C in the terminal is the engine's to handle
        )
        self._lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self.alive = True
        threading.Thread(target=self._read, name="kale-zygote", daemon=True).start()

    def _read(self) -> None:
        stdout: IO[bytes] = self.proc.stdout  # type: ignore[assignment]
        for line in stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                waiter = self._waiters.get(msg.get("id"))
            if waiter is None:
                continue
            if "pid" in msg:
                waiter.pid = int(msg["pid"])
                waiter.started.set()
            elif "code" in msg:
                waiter.code = int(msg["code"])
                waiter.timed_out = bool(msg.get("timed_out"))
                with self._lock:
                    self._waiters.pop(msg["id"], None)
                waiter.started.set()
                waiter.done.set()
        self.alive = False
        with self._lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:  # the zygote died: its steps are lost, and so is their group
            if waiter.pid is not None:
                kill_step(waiter.pid, signal.SIGKILL)
            waiter.code = -signal.SIGKILL
            waiter.started.set()
            waiter.done.set()

    def submit(self, request: dict[str, Any]) -> _Waiter:
        waiter = _Waiter()
        with self._lock:
            if not self.alive:
                raise BrokenPipeError("zygote is gone")
            self._waiters[request["id"]] = waiter
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        return waiter


_ZYGOTES: dict[tuple[str, str], Zygote] = {}
_ZLOCK = threading.Lock()


def zygote(python: str, env: dict[str, str]) -> Zygote:
    """The process-wide zygote for ``python`` (started on first use, restarted if it died)."""
    key = (python, env.get("PYTHONPATH", ""))
    with _ZLOCK:
        z = _ZYGOTES.get(key)
        if z is None or not z.alive or z.proc.poll() is not None:
            z = _ZYGOTES[key] = Zygote(python, env)
        return z


class WarmExecutor:
    """Step processes forked by the zygote; same contract as SubprocessExecutor.

    ``fresh=True`` makes the forked child exec a new interpreter (``KALE_LIKE_EXECUTOR=
    subprocess``): slower, but the same keeper owns it, so the same lifecycle rules hold.
    """

    def __init__(self, python: str | None = None, *, fresh: bool = False) -> None:
        self.python = python or sys.executable
        self.fresh = fresh
        self._env = _child_env()
        self._live: dict[int, _Waiter] = {}
        self._lock = threading.Lock()
        self._cancelled = False
        self._fallback = SubprocessExecutor(self.python)

    def __call__(self, job: Job) -> Outcome:
        Path(job.job_path).write_text(json.dumps(job.to_json(), default=repr), encoding="utf-8")
        request = {
            "id": uuid.uuid4().hex,
            "module": STEPMAIN if job.keep_dir else "kale_like.runtime",
            "job": job.job_path,
            "log": job.log_path,
            "cwd": job.cwd,
            "env": {**self._env, **job.env},
            "preload": sorted(job.modules),
            "timeout": job.timeout,  # enforced by the keeper, with or without us
            **({"exec": self.python} if self.fresh else {}),
        }
        start = time.perf_counter()
        with self._lock:
            if self._cancelled:
                return Outcome(ok=False, error="cancelled")
            try:
                waiter = zygote(self.python, self._env).submit(request)
            except OSError:  # no zygote (it could not start): a fresh interpreter will do
                waiter = None
        if waiter is None:
            return self._fallback(job)
        waiter.started.wait()
        pid = waiter.pid
        if pid is not None:
            with self._lock:
                self._live[pid] = waiter
                cancelled = self._cancelled
            if cancelled:
                kill_step(pid, signal.SIGTERM)
        try:
            # The keeper times the step out; this is only a backstop should it hang.
            backstop = job.timeout + 2 * GRACE + 5 if job.timeout else None
            if not waiter.done.wait(timeout=backstop) and pid is not None:
                kill_step(pid, signal.SIGKILL)
                waiter.done.wait()
                return timed_out(job, time.perf_counter() - start)
        finally:
            if pid is not None:
                with self._lock:
                    self._live.pop(pid, None)
        seconds = time.perf_counter() - start
        if waiter.timed_out:
            return timed_out(job, seconds)
        return read_outcome(Path(job.result_path), waiter.code, Path(job.log_path), seconds)

    def cancel(self) -> None:
        """Stop every running step (SIGTERM to its group, SIGKILL after a grace period);
        steps asked for later are refused."""
        self._fallback.cancel()
        with self._lock:
            self._cancelled = True
            live = dict(self._live)
        for pid in live:
            kill_step(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for pid, waiter in live.items():
            if not waiter.done.wait(timeout=max(0.0, deadline - time.monotonic())):
                kill_step(pid, signal.SIGKILL)


def default_executor() -> Any:
    """Warm (zygote) step processes on POSIX; a new interpreter per step elsewhere or when
    ``KALE_LIKE_EXECUTOR=subprocess``."""
    if not hasattr(os, "fork"):
        return SubprocessExecutor()
    return WarmExecutor(fresh=os.environ.get("KALE_LIKE_EXECUTOR") == "subprocess")
