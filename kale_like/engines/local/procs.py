"""The one owner of step processes: how they start, how long they live, how they die.

Every step of the local engine runs as the leader of a process group of its own (its
session), started by the *keeper* (the zygote, :mod:`.zygote`), never by user code. The rules,
whatever happens to the runner (``kale-like run``, the Jupyter server, a papermill run):

- a step dies with its keeper: the step sets ``PR_SET_PDEATHSIG`` (Linux, via ``ctypes``);
- the keeper dies with its runner: its stdin is the runner's end of a pipe, and EOF (the
  runner exited, was killed, even by ``SIGKILL``) makes it kill every step group and exit;
  ``SIGTERM``/``SIGHUP`` to the keeper do the same;
- a ``timeout:`` is enforced by the keeper (``SIGTERM`` to the group, ``SIGKILL`` after a
  grace period), so it holds even if the runner is stopped or gone;
- when a step's leader ends, what is left in its group (processes it started) is killed, as
  a pod's processes end with its main container;
- cancel (Ctrl-C, REST cancel) kills the group from the runner: :func:`kill_step`.

Grandchildren that leave the group on purpose (``setsid``, double fork) are outside this
contract.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass, field

PR_SET_PDEATHSIG = 1
GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a step group


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent ends (Linux only).

    ``parent`` is the pid the caller expects as its parent: if it is already gone (the
    request raced with its death), exit now rather than run orphaned.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):  # no libc symbol: the keeper still kills the group
            pass
    if os.getppid() != parent:
        os._exit(1)


def kill_step(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a step's whole group; also its leader alone, in case it has not yet made its
    group (the fork/``setsid`` window), when nothing of the step can have started yet."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@dataclass
class Running:
    """One step process the keeper owns."""

    id: str
    deadline: float | None  # time.monotonic() when its `timeout:` runs out
    kill_at: float | None = None  # SIGKILL due (after the SIGTERM of a timeout)
    timed_out: bool = False


@dataclass
class Keeper:
    """The keeper's book of live steps (used inside the zygote's single thread)."""

    running: dict[int, Running] = field(default_factory=dict)

    def add(self, pid: int, rid: str, timeout: float | None) -> None:
        deadline = time.monotonic() + timeout if timeout else None
        self.running[pid] = Running(rid, deadline)

    def wakeup(self, idle: float) -> float:
        """Seconds until the next deadline (at most ``idle``)."""
        now = time.monotonic()
        due = [t for r in self.running.values() for t in (r.deadline, r.kill_at) if t]
        return max(0.0, min([idle, *(t - now for t in due)]))

    def enforce(self) -> None:
        """Time out steps past their deadline: SIGTERM the group, SIGKILL after GRACE."""
        now = time.monotonic()
        for pid, r in self.running.items():
            if r.kill_at is not None and now >= r.kill_at:
                kill_step(pid, signal.SIGKILL)
                r.kill_at = None
            elif r.deadline is not None and now >= r.deadline and not r.timed_out:
                r.timed_out = True
                kill_step(pid, signal.SIGTERM)
                r.kill_at = now + GRACE

    def ended(self, pid: int, status: int) -> dict[str, object] | None:
        """A reaped step: kill what it left in its group; the reply for the runner."""
        r = self.running.pop(pid, None)
        if r is None:
            return None
        kill_step(pid, signal.SIGKILL)  # leftovers of the group (the leader is gone)
        reply: dict[str, object] = {"id": r.id, "code": os.waitstatus_to_exitcode(status)}
        if r.timed_out:
            reply["timed_out"] = True
        return reply

    def kill_all(self) -> None:
        """The runner is gone or the keeper was told to stop: no step may outlive it."""
        for pid in list(self.running):
            kill_step(pid, signal.SIGKILL)
        for pid in list(self.running):  # reap them: nobody else will (PID 1 may not)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.running.clear()
