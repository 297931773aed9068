"""Progress display for runs: step states and elapsed time, no extra dependency.

On a terminal a status line (done/total, running steps with their elapsed time) is redrawn in
place and each finished step is printed once; elsewhere only the finished steps are printed.
Both are :data:`~kale_like.run_results.ProgressCallback` callables fed with ``RunEvent``s.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .run_results import RunEvent

_MARK = {"succeeded": "ok", "cached": "cached", "failed": "FAILED", "skipped": "skipped"}
_FINAL = set(_MARK)


class LineProgress:
    """One line per finished step (for logs and pipes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def line(self, event: RunEvent) -> str | None:
        if event.step is None:
            if event.status in ("running",):
                return f"run {event.run_id} started"
            return f"run {event.run_id} {event.status} in {event.seconds:.1f}s"
        if event.status not in _FINAL:
            return None
        text = f"  {_MARK[event.status]:>7}  {event.step}"
        if event.status in ("succeeded", "failed"):
            text += f"  {event.seconds:.2f}s"
        if event.status == "failed" and event.message:
            text += f"  {event.message}"
        elif event.message and event.status in ("succeeded", "cached"):
            # Re-planning notices (writes the analysis did not see), one per line.
            text += "".join(f"\n    note: {m}" for m in event.message.split("; "))
        return text

    def __call__(self, event: RunEvent) -> None:
        text = self.line(event)
        if text is not None:
            with self._lock:
                print(text, file=self.stream, flush=True)


class TtyProgress(LineProgress):
    """Finished steps scroll up; a live status line shows what runs and for how long."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.2, total: int = 0) -> None:
        super().__init__(stream)
        self.interval = interval
        self._running: dict[str, float] = {}
        self._done = 0
        self._total = total
        self._seen: set[str] = set()
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status_line(self) -> str:
        now = time.monotonic()
        running = ", ".join(f"{n} {now - t:.1f}s" for n, t in sorted(self._running.items()))
        total = f"/{self._total}" if self._total else ""
        text = f"[{self._done}{total}] {now - self._start:.1f}s"
        return text + (f"  running: {running}" if running else "")

    def _draw(self, text: str | None = None) -> None:
        # \r + clear-to-end-of-line keeps the status on one line whatever its length was.
        if text is not None:
            self.stream.write("\r\x1b[K" + text + "\n")
        self.stream.write("\r\x1b[K" + self.status_line()[:200])
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._draw()

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            if event.step is not None and event.step not in self._seen:
                self._seen.add(event.step)
                self._total = max(self._total, len(self._seen))
            if event.step is None and event.status == "running":
                self._start = time.monotonic()
                if self._thread is None:
                    self._thread = threading.Thread(target=self._tick, daemon=True)
                    self._thread.start()
            if event.step is not None:
                if event.status == "running":
                    self._running[event.step] = time.monotonic()
                elif event.status in _FINAL:
                    self._running.pop(event.step, None)
                    self._done += 1
            text = self.line(event)
            if event.step is None and event.status != "running":
                self._stop.set()
                self.stream.write("\r\x1b[K" + (text or "") + "\n")
                self.stream.flush()
                return
            if text is not None or event.status == "running":
                self._draw(text if event.step is not None else None)

    def close(self) -> None:
        self._stop.set()


def for_stream(stream: TextIO | None = None, total: int = 0) -> LineProgress:
    """A live display on a terminal (``total`` steps), plain lines otherwise."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", lambda: False)
    return TtyProgress(stream, total=total) if isatty() else LineProgress(stream)
