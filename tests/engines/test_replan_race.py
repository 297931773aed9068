"""Re-planning when a reader already FAILED before the writer reported (issue 11).

A step binds ``z`` through ``globals()`` (the analysis sees no edge), so under a parallel
run its reader starts beside it and fails with ``NameError``. When the writer then reports
the write, the reader must run again with the writer's value, the steps after it must run
too, and the run's status must reflect only the final attempts.

The race is forced, not hoped for: the writer waits for a file that the test creates only
when the engine has reported the reader's failure (a progress event), so the reader has
always failed before the writer binds ``z``. Ground truth: the cells run top to bottom.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook

from kale_like.api.execution import run

Cells = list[tuple[str, tuple[str, ...]]]

# Waits on an event (a file appearing), with a deadline so a broken engine fails the test
# instead of hanging it.
WAIT = (
    "def wait_for(path):\n"
    "    deadline = time.monotonic() + 60\n"
    "    while not os.path.exists(path) and time.monotonic() < deadline:\n"
    "        time.sleep(0.005)\n"
)


def cells_direct(go: Path) -> Cells:
    """``sneak`` itself waits, then binds ``z``; ``use`` and ``after_use`` read it."""
    return [
        ("import os\nimport time", ("imports",)),
        (WAIT, ("functions",)),
        (f"wait_for({str(go)!r})\nglobals()['z'] = 5", ("step:sneak",)),
        ("w = z * 2", ("step:use",)),
        ("v = w + 1", ("step:after_use", "prev:use")),
        ("print(w)\nprint(v)", ("pipeline-metrics",)),
    ]


def cells_late_writer(go: Path) -> Cells:
    """The writer has not even started when ``use`` fails: it waits on ``prep``."""
    return [
        ("import os\nimport time", ("imports",)),
        (WAIT, ("functions",)),
        (f"wait_for({str(go)!r})\nbase = 4", ("step:prep",)),
        ("globals()['z'] = base + 1", ("step:sneak", "prev:prep")),
        ("w = z * 2", ("step:use",)),
        ("v = w + 1", ("step:after_use", "prev:use")),
        ("print(w)\nprint(v)", ("pipeline-metrics",)),
    ]


def top_to_bottom(cells: Cells, go: Path) -> dict[str, Any]:
    go.write_text("go")  # nothing to wait for when run in order
    ns: dict[str, Any] = {}
    for src, tags in cells:
        if "pipeline-metrics" not in tags:
            exec(src, ns)
    go.unlink()
    return ns


def release_on_failure(go: Path, events: list[Any]) -> Any:
    """A progress callback that lets the writer go once ``use`` is reported failed."""

    def on_event(event: Any) -> None:
        events.append(event)
        if event.step == "use" and event.status == "failed":
            go.write_text("go")

    return on_event


@pytest.mark.parametrize("build", [cells_direct, cells_late_writer])
def test_failed_reader_reruns_with_the_writers_value(build: Any, tmp_path: Path) -> None:
    go = tmp_path / "go"
    cells = build(go)
    truth = top_to_bottom(cells, go)
    nb = write_notebook(tmp_path / "race.ipynb", *(cell(s, *t) for s, t in cells))
    for attempt in range(3):  # every time, not most of the time
        if go.exists():
            go.unlink()
        events: list[Any] = []
        result = run(
            nb,
            # A fresh run root each time: the facts a run observed persist there and would
            # order the next run (use after sneak), so no race would happen.
            run_root=tmp_path / f"root{attempt}",
            jobs=2,
            use_cache=False,
            progress=release_on_failure(go, events),
        )
        errors = {n: (s.status, s.error) for n, s in result.steps.items() if s.error}
        assert result.status == "succeeded", (attempt, errors)
        assert result.metrics == {"w": truth["w"], "v": truth["v"]}
        # The race happened: use failed first, and that failure was replaced by the re-run.
        use_events = [(e.status, e.message) for e in events if e.step == "use"]
        statuses = [s for s, _ in use_events]
        assert "failed" in statuses, use_events
        after = statuses[statuses.index("failed") + 1 :]
        assert after[-1] == "succeeded" and "pending" in after, use_events
        pending_msg = next(m for s, m in use_events[statuses.index("failed") :] if s == "pending")
        assert pending_msg and "NameError" in pending_msg and "sneak" in pending_msg
        assert [e.status for e in events if e.step == "after_use"][-1] == "succeeded"

        record = json.loads((Path(result.run_dir or "") / "run.json").read_text())
        assert record["status"] == "succeeded"
        use = record["steps"]["use"]
        assert use["status"] == "succeeded" and use["error"] is None
        assert use["inputs_replanned"] == {"z": "sneak"}
        assert "NameError" in (use["replaced_failure"] or {}).get("error", "")
        assert any("ran again" in n and "sneak" in n for n in use["notes"]), use["notes"]
        assert record["steps"]["after_use"]["status"] == "succeeded"


def test_run_json_has_state_observed_per_step(tmp_path: Path) -> None:
    """Per-step RNG observations reach run.json (api/observed.py reads them)."""
    cells: Cells = [
        ("import random", ("imports",)),
        ("random.seed(3)\na = random.random()", ("step:draw",)),
        ("print(a)", ("pipeline-metrics",)),
    ]
    nb = write_notebook(tmp_path / "rng.ipynb", *(cell(s, *t) for s, t in cells))
    result = run(nb, run_root=tmp_path / "root", use_cache=False)
    assert result.status == "succeeded"
    record = json.loads((Path(result.run_dir or "") / "run.json").read_text())
    facts = record["steps"]["draw"]["state_observed"]
    assert isinstance(facts, list)
    assert any(f.get("kind") == "random" for f in facts), facts
