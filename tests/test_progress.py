"""The run progress display: plain lines off a terminal, a live status line on one."""

from __future__ import annotations

import io

from kale_like.progress import LineProgress, TtyProgress, for_stream
from kale_like.run_results import RunEvent


def feed(progress: LineProgress) -> None:
    progress(RunEvent("r1", None, "running"))
    progress(RunEvent("r1", "load", "running"))
    progress(RunEvent("r1", "load", "succeeded", 0.5))
    progress(RunEvent("r1", "train", "cached"))
    progress(RunEvent("r1", "eval", "failed", 1.25, "ZeroDivisionError: division by zero"))
    progress(RunEvent("r1", "report", "skipped"))
    progress(RunEvent("r1", None, "failed", 2.0))


def test_line_progress() -> None:
    out = io.StringIO()
    feed(LineProgress(out))
    lines = out.getvalue().splitlines()
    assert lines[0] == "run r1 started"
    assert "ok" in lines[1] and "load" in lines[1] and "0.50s" in lines[1]
    assert "cached" in lines[2] and "train" in lines[2]
    assert "FAILED" in lines[3] and "ZeroDivisionError" in lines[3]
    assert "skipped" in lines[4]
    assert lines[5] == "run r1 failed in 2.0s"


def test_tty_progress_shows_running_steps() -> None:
    out = io.StringIO()
    progress = TtyProgress(out, interval=60)
    progress(RunEvent("r1", None, "running"))
    progress(RunEvent("r1", "load", "running"))
    assert "running: load" in progress.status_line()
    progress(RunEvent("r1", "load", "succeeded", 0.5))
    assert "running" not in progress.status_line().split("]", 1)[1]
    progress(RunEvent("r1", None, "succeeded", 0.6))
    assert "run r1 succeeded" in out.getvalue()


def test_for_stream_picks_by_tty() -> None:
    assert type(for_stream(io.StringIO())) is LineProgress
