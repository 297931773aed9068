"""Helpers for the process-lifecycle probes: a never-ending step that reports its pids over
a unix socket, and event-driven waits (pidfd) for processes that are not our children."""

from __future__ import annotations

import os
import select
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from nb_kit import cell, write_notebook


def endless_notebook(path: Path, sock: str, marker: str, *tags: str) -> Path:
    """One step that starts a grandchild carrying ``marker`` in its command line, reports
    ``"<step pid> <grandchild pid>"`` on ``sock`` and then never ends."""
    code = (
        "import os, socket, subprocess, sys, time\n"
        "child = subprocess.Popen(\n"
        f"    [sys.executable, '-c', 'import time; time.sleep(3600)', {marker!r}]\n"
        ")\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({sock!r})\n"
        "s.sendall(f'{os.getpid()} {child.pid}'.encode())\n"
        "s.close()\n"
        "while True:\n"
        "    time.sleep(1)\n"
    )
    return write_notebook(path, cell(code, "step:forever", *tags))


class PidReport:
    """A listening unix socket the step reports to."""

    def __init__(self, folder: Path) -> None:
        # A short path: unix socket paths are limited to ~100 bytes.
        self.path = f"/tmp/kale-hostile-{uuid.uuid4().hex[:10]}.sock"
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def wait(self, timeout: float = 90) -> tuple[int, int]:
        """Block (bounded) until the step reports; its pid and its grandchild's."""
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            data = b""
            while chunk := conn.recv(100):
                data += chunk
        step, child = data.decode().split()
        return int(step), int(child)

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def running(pid: int) -> bool:
    """Alive and not a zombie (PID 1 here does not reap orphans: zombies stay in /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds, no polling) until every pid has exited or ``timeout`` passes;
    the pids still running."""
    fds: dict[int, int] = {}
    for pid in pids:
        try:
            fds[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    try:
        while fds:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(fds.values()), [], [], left)
            for pid, fd in list(fds.items()):
                if fd in ready:
                    os.close(fds.pop(pid))
    finally:
        for fd in fds.values():
            os.close(fd)
    return [p for p in pids if running(p)]


def with_marker(marker: str) -> list[int]:
    """Live processes whose command line carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def env() -> dict[str, Any]:
    root = str(Path(__file__).resolve().parents[2])
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (root, out.get("PYTHONPATH")) if p)
    out.pop("KALE_LIKE_RUN_ROOT", None)
    return out
