"""The kfp-local engine on hand-built pipelines (the corpus ones are in test_corpus_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_local import diamond

from kale_like.engines import RunRequest
from kale_like.engines.kfp_local import KfpLocalEngine
from kale_like.engines.local import LocalEngine
from kale_like.errors import UsageError
from kale_like.run_results import RunEvent


def request(tmp_path: Path, pipeline, **kw):  # type: ignore[no-untyped-def]
    params = {p.name: p.default for p in pipeline.parameters}
    params.update(kw.pop("parameters", {}))
    return RunRequest(pipeline=pipeline, parameters=params, run_root=tmp_path / "root", **kw)


def test_metrics_and_values_equal_local_engine(tmp_path: Path) -> None:
    events: list[RunEvent] = []
    kfp = KfpLocalEngine().run(
        request(tmp_path, diamond(), parameters={"k": 5}, keep_values=True, progress=events.append)
    )
    local = LocalEngine().run(request(tmp_path, diamond(), parameters={"k": 5}, keep_values=True))
    assert kfp.status == local.status == "succeeded"
    assert kfp.metrics == local.metrics == {"total": 2 * 2 + 7}
    assert {k: kfp.values[k] for k in ("a", "b", "c")} == {"a": 2, "b": 4, "c": 7}
    assert set(kfp.steps) == set(local.steps)
    assert all(s.seconds > 0 for s in kfp.steps.values())
    # the progress display gets each step's time too, not 0
    done = {e.step: e.seconds for e in events if e.step and e.status == "succeeded"}
    assert done == {name: s.seconds for name, s in kfp.steps.items()}
    record = json.loads((Path(kfp.run_dir) / "run.json").read_text())
    assert record["engine"] == "kfp-local" and record["metrics"] == kfp.metrics
    assert (Path(kfp.run_dir) / "kfp.log").is_file()


def test_failed_step_is_named_with_cell(tmp_path: Path) -> None:
    res = KfpLocalEngine().run(request(tmp_path, diamond(b_code="b = a / 0")))
    assert res.status == "failed"
    failed = res.failed_step
    assert failed is not None and failed.name == "left" and failed.cell == 1
    assert "ZeroDivisionError" in (failed.error or "")
    assert res.steps["src"].status == "succeeded"
    assert res.steps["join"].status == "skipped"


def test_from_and_only_are_local_only(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="local engine"):
        KfpLocalEngine().run(request(tmp_path, diamond(), only=("left",)))


def test_task_seconds_from_kfp_log() -> None:
    from kale_like.engines.kfp_local import task_seconds

    log = (
        "12:00:01.250 - INFO - Executing task \x1b[96m'load'\x1b[0m\n"
        "    streamed output\n"
        "12:00:02.000 - INFO - Task \x1b[96m'load'\x1b[0m finished with status SUCCESS\n"
        "23:59:59.500 - INFO - Executing task \x1b[96m'late'\x1b[0m\n"
        "00:00:00.500 - ERROR - Task \x1b[96m'late'\x1b[0m finished with status FAILURE\n"
    )
    assert task_seconds(log) == {"load": 0.75, "late": 1.0}
