"""The local engine's scheduler, cache and records, driven by a small in-process executor.

The fake executor runs a step's cells with ``exec`` and saves JSON values, so these tests pin
the engine's own behaviour (ordering, parallelism bound, cache keys, resume, atomicity) apart
from the real step runtime, which ``tests/test_corpus_run.py`` covers end to end.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook

from kale_like.engines import RunRequest
from kale_like.engines.local import LocalEngine
from kale_like.engines.local.executor import Job, Outcome
from kale_like.engines.local.plan import make_plan
from kale_like.errors import EnvironmentProblem, UsageError
from kale_like.model import Metric, Parameter, Pipeline, Step


class FakeExecutor:
    """Runs cells with exec(); values travel as JSON files in the engine's paths."""

    def __init__(self, delay: float = 0.0, meet: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.delay = delay
        # Steps in ``meet`` wait for each other: they pass only if they run at the same time.
        self.meet = meet or set()
        self._barrier = threading.Barrier(len(self.meet), timeout=60) if self.meet else None
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, job: Job) -> Outcome:
        with self._lock:
            self.calls.append(job.step)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self._barrier is not None and job.step in self.meet:
                self._barrier.wait()  # raises BrokenBarrierError if the other never starts
            time.sleep(self.delay)
            ns: dict[str, Any] = dict(job.parameters)
            for var, path in job.inputs.items():
                ns[var] = json.loads((Path(path) / "value.json").read_text())
            for cell in job.spec["cells"]:
                try:
                    exec(cell["source"], ns)
                except Exception as exc:
                    return Outcome(
                        ok=False,
                        error=f"{type(exc).__name__}: {exc}",
                        exc_type=type(exc).__name__,
                        cell=cell["index"],
                        traceback="tb",
                    )
            digests = {}
            for var, path in job.outputs.items():
                Path(path).mkdir(parents=True)
                text = json.dumps(ns[var])
                (Path(path) / "value.json").write_text(text)
                digests[var] = str(hash(text))
            Path(job.state_output).write_text("{}")
            Path(job.report_path).write_text("<html></html>")
            metrics = {m: ns[m] for m in job.spec["metrics"]}
            return Outcome(ok=True, metrics=metrics, outputs=digests, seconds=self.delay)
        finally:
            with self._lock:
                self.active -= 1


def diamond(src_extra: str = "", b_code: str = "b = a * 2") -> Pipeline:
    steps = (
        Step("src", (0,), ("a = n + 1" + src_extra,), outputs=("a",), parameters=("n",)),
        Step("left", (1,), (b_code,), after=("src",), inputs=(("a", "src"),), outputs=("b",)),
        Step(
            "right",
            (2,),
            ("c = a + k",),
            after=("src",),
            inputs=(("a", "src"),),
            outputs=("c",),
            parameters=("k",),
        ),
        Step(
            "join",
            (3,),
            ("total = b + c",),
            after=("left", "right"),
            inputs=(("b", "left"), ("c", "right")),
            metrics=("total",),
        ),
    )
    return Pipeline(
        name="diamond",
        steps=steps,
        parameters=(Parameter("n", 1, "int"), Parameter("k", 10, "int")),
        metrics=(Metric("total", "join"),),
    )


def run(tmp_path: Path, pipeline: Pipeline, ex: FakeExecutor, **kw: Any):
    params = {p.name: p.default for p in pipeline.parameters}
    params.update(kw.pop("parameters", {}))
    req = RunRequest(pipeline=pipeline, parameters=params, run_root=tmp_path / "root", **kw)
    return LocalEngine(executor=ex).run(req)


def test_runs_in_order_and_reports_metrics(tmp_path: Path) -> None:
    ex = FakeExecutor()
    res = run(tmp_path, diamond(), ex, jobs=1)
    assert res.status == "succeeded"
    assert ex.calls == ["src", "left", "right", "join"]
    assert res.metrics == {"total": 2 * 2 + 12}
    assert {s.status for s in res.steps.values()} == {"succeeded"}
    record = json.loads((Path(res.run_dir) / "run.json").read_text())
    assert record["steps"]["join"]["inputs"]["b"]["producer"] == "left"
    steps = record["steps"]
    assert steps["left"]["outputs"]["b"] == steps["join"]["inputs"]["b"]["digest"]
    assert (Path(res.run_dir) / "steps" / "join" / "report.html").is_file()


def test_independent_steps_run_in_parallel_up_to_jobs(tmp_path: Path) -> None:
    # The two branches of the diamond meet at a barrier: event-driven, no timing window.
    middle = [s.name for s in diamond().steps][1:3]
    ex = FakeExecutor(meet=set(middle))
    res = run(tmp_path / "a", diamond(), ex, jobs=2)
    assert {s.status for s in res.steps.values()} == {"succeeded"}
    assert ex.max_active == 2
    ex1 = FakeExecutor()
    run(tmp_path / "b", diamond(), ex1, jobs=1)
    assert ex1.max_active == 1


def test_unchanged_rerun_is_all_cached(tmp_path: Path) -> None:
    ex = FakeExecutor()
    first = run(tmp_path, diamond(), ex)
    ex.calls.clear()
    second = run(tmp_path, diamond(), ex)
    assert ex.calls == []
    assert {s.status for s in second.steps.values()} == {"cached"}
    assert second.metrics == first.metrics
    assert (Path(second.run_dir) / "steps" / "join" / "report.html").is_file()


def test_edit_reruns_step_and_descendants_only(tmp_path: Path) -> None:
    ex = FakeExecutor()
    run(tmp_path, diamond(), ex)
    ex.calls.clear()
    res = run(tmp_path, diamond(b_code="b = a * 3"), ex)
    assert ex.calls == ["left", "join"]
    assert res.steps["src"].status == res.steps["right"].status == "cached"
    assert res.metrics == {"total": 2 * 3 + 12}


def test_parameter_change_reruns_only_readers(tmp_path: Path) -> None:
    ex = FakeExecutor()
    run(tmp_path, diamond(), ex)
    ex.calls.clear()
    res = run(tmp_path, diamond(), ex, parameters={"k": 20})
    assert ex.calls == ["right", "join"]
    assert res.metrics == {"total": 4 + 22}


def test_unchanged_output_does_not_rerun_consumers(tmp_path: Path) -> None:
    ex = FakeExecutor()
    run(tmp_path, diamond(), ex)
    ex.calls.clear()
    # src's code changes but computes the same `a`: consumers stay cached.
    run(tmp_path, diamond(src_extra="\nunused = 0"), ex)
    assert ex.calls == ["src"]


def test_no_cache_and_from(tmp_path: Path) -> None:
    ex = FakeExecutor()
    run(tmp_path, diamond(), ex)
    ex.calls.clear()
    run(tmp_path, diamond(), ex, use_cache=False, jobs=1)
    assert ex.calls == ["src", "left", "right", "join"]
    ex.calls.clear()
    res = run(tmp_path, diamond(), ex, from_step="right")
    assert ex.calls == ["right", "join"]
    assert res.steps["left"].status == "cached"


def test_only_runs_subset_from_cache(tmp_path: Path) -> None:
    ex = FakeExecutor()
    with pytest.raises(UsageError, match="'left' needs 'a' from step 'src'"):
        run(tmp_path, diamond(), ex, only=("left",))
    assert ex.calls == []
    assert not any((tmp_path / "root" / "runs").iterdir())
    run(tmp_path, diamond(), ex)
    ex.calls.clear()
    res = run(tmp_path, diamond(), ex, only=("left",))
    assert ex.calls == ["left"]
    assert res.steps["src"].status == "cached"
    assert res.steps["join"].status == res.steps["right"].status == "skipped"


def test_from_a_step_that_only_takes_from_the_cache_is_refused() -> None:
    # diamond: src -> left, right -> join. --only join takes left from the cache.
    with pytest.raises(UsageError, match="--from left re-runs step 'left'"):
        make_plan(diamond(), use_cache=True, from_step="left", only=("join",))
    plan = make_plan(diamond(), use_cache=True, from_step="left", only=("left", "join"))
    assert plan.force == {"left", "join"} and plan.resolve == {"src", "right"}


def test_plan_rejects_unknown_step() -> None:
    with pytest.raises(UsageError, match="left, right"):
        make_plan(diamond(), use_cache=True, from_step="nope", only=())


def test_failure_skips_later_steps_and_resumes(tmp_path: Path) -> None:
    ex = FakeExecutor()
    res = run(tmp_path, diamond(b_code="b = a / 0"), ex, jobs=1)
    assert res.status == "failed"
    assert res.failed_step is not None and res.failed_step.name == "left"
    assert res.failed_step.cell == 1 and "ZeroDivisionError" in (res.failed_step.error or "")
    assert res.steps["join"].status == "skipped"
    assert "join" not in ex.calls
    ex.calls.clear()
    fixed = run(tmp_path, diamond(), ex, jobs=1)
    assert fixed.status == "succeeded"
    assert fixed.steps["src"].status == "cached"
    assert "src" not in ex.calls and "left" in ex.calls


def test_interrupted_step_leaves_no_cache_entry(tmp_path: Path) -> None:
    class Boom(FakeExecutor):
        def __call__(self, job: Job) -> Outcome:
            if job.step == "left":
                Path(job.outputs["b"]).mkdir(parents=True)  # half-written output
                raise KeyboardInterrupt
            return super().__call__(job)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, diamond(), Boom(), jobs=1)
    cache = tmp_path / "root" / "cache"
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert all((p / "meta.json").is_file() for p in entries)
    assert not any((cache / ".tmp").iterdir())
    run_dir = next((tmp_path / "root" / "runs").iterdir())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "cancelled"


def test_unwritable_run_root_is_environment_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    req = RunRequest(pipeline=diamond(), parameters={"n": 1, "k": 10}, run_root=blocker / "sub")
    with pytest.raises(EnvironmentProblem, match="not writable"):
        LocalEngine(executor=FakeExecutor()).run(req)


def test_ctrl_c_stops_real_step_processes(tmp_path: Path) -> None:
    """SIGINT during a run: the step process is stopped, no cache entry, record cancelled.

    Event-driven: the step reports its pid over a socket once it runs, and the SIGINT is
    sent only then and only while the run is still in progress (a blind SIGINT after a
    deadline could land after the run ended, or in the next test).
    """
    import os
    import signal
    import socket
    import uuid

    sock_path = f"/tmp/kale-ctrlc-{uuid.uuid4().hex[:10]}.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(1)
    listener.settimeout(90)
    code = (
        "import os, socket, time\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({sock_path!r})\n"
        "s.sendall(str(os.getpid()).encode())\n"
        "s.close()\n"
        "time.sleep(600)"
    )
    pipeline = Pipeline(name="slow", steps=(Step("slow", (0,), (code,)),))
    reported: list[int] = []
    in_run = threading.Lock()  # held by the test while LocalEngine.run is in progress
    in_run.acquire()

    def fire() -> None:
        conn, _ = listener.accept()
        with conn:
            reported.append(int(conn.recv(64)))
        if not in_run.acquire(blocking=False):  # still running: interrupt it
            os.kill(os.getpid(), signal.SIGINT)
        else:
            in_run.release()

    threading.Thread(target=fire, daemon=True).start()
    req = RunRequest(pipeline=pipeline, parameters={}, run_root=tmp_path / "root")
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                LocalEngine().run(req)
            finally:
                in_run.release()
    finally:
        listener.close()
        os.unlink(sock_path)
    [pid] = reported
    # The step is gone: its pidfd turns readable when it exits (bounded wait, no polling).
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        fd = None
    if fd is not None:
        try:
            ready, _, _ = select.select([fd], [], [], 10)
            assert ready, "the step process outlived Ctrl-C"
        finally:
            os.close(fd)
    cache = tmp_path / "root" / "cache"
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == []
    run_dir = next((tmp_path / "root" / "runs").iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "cancelled"


def test_local_module_beside_notebook_is_imported_and_keyed(tmp_path: Path) -> None:
    """A module next to the notebook imports in steps; editing it re-runs its importers."""
    from kale_like.api.execution import run as api_run

    (tmp_path / "helper.py").write_text("def f(x):\n    return x + 1\n")
    path = write_notebook(
        tmp_path / "mod.ipynb",
        cell("import helper", "imports"),
        cell("y = helper.f(1)", "step:a"),
        cell("z = y * 10", "step:b", "prev:a"),
        cell("print(z)", "pipeline-metrics"),
    )
    root = tmp_path / "root"
    first = api_run(path, run_root=root)
    assert first.status == "succeeded" and first.metrics == {"z": 20}
    assert {s.status for s in api_run(path, run_root=root).steps.values()} == {"cached"}
    (tmp_path / "helper.py").write_text("def f(x):\n    return x + 2\n")
    edited = api_run(path, run_root=root)
    assert edited.steps["a"].status == "succeeded" and edited.metrics == {"z": 30}


@pytest.mark.parametrize("executor", ["subprocess", "warm"])
def test_real_step_processes(
    executor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both process starters run the real runtime: values, metrics, failures with the cell."""
    monkeypatch.setenv("KALE_LIKE_EXECUTOR", executor)
    params = {"n": 1, "k": 10}
    ok = LocalEngine().run(
        RunRequest(pipeline=diamond(), parameters=params, run_root=tmp_path / "a")
    )
    assert ok.status == "succeeded" and ok.metrics == {"total": 2 * 2 + 12}
    bad = LocalEngine().run(
        RunRequest(
            pipeline=diamond(b_code="b = a / 0"), parameters=params, run_root=tmp_path / "b", jobs=1
        )
    )
    failed = bad.failed_step
    assert failed is not None and failed.name == "left" and failed.cell == 1
    assert "ZeroDivisionError" in (failed.error or "") and "ZeroDivisionError" in (
        failed.traceback or ""
    )
    assert bad.steps["join"].status == "skipped"


def test_step_settings_timeout_retry_env(tmp_path: Path) -> None:
    """`timeout:`, `retry:` and `env:` tags apply to the local step processes."""
    from kale_like.model import StepSettings

    counter = tmp_path / "attempts.txt"
    flaky = (
        "import os\n"
        f"p = {str(counter)!r}\n"
        "n = int(open(p).read()) if os.path.exists(p) else 0\n"
        "open(p, 'w').write(str(n + 1))\n"
        "assert n >= 1, 'first attempt fails'\n"
        "greeting = os.environ['GREETING']"
    )
    steps = (
        Step(
            "flaky",
            (0,),
            (flaky,),
            outputs=("greeting",),
            metrics=("greeting",),
            settings=StepSettings(retries=1, env=(("GREETING", "hello"),)),
        ),
    )
    res = LocalEngine().run(
        RunRequest(pipeline=Pipeline("s", steps), parameters={}, run_root=tmp_path / "a")
    )
    assert res.status == "succeeded", res.failed_step
    assert res.metrics == {"greeting": "hello"} and counter.read_text() == "2"

    slow = Step("slow", (0,), ("import time\ntime.sleep(60)",), settings=StepSettings(timeout=1))
    start = time.monotonic()
    res = LocalEngine().run(
        RunRequest(pipeline=Pipeline("t", (slow,)), parameters={}, run_root=tmp_path / "b")
    )
    assert time.monotonic() - start < 30
    assert res.status == "failed" and "timed out after 1 s" in (res.failed_step.error or "")


def test_warm_steps_draw_fresh_random_numbers(tmp_path: Path) -> None:
    """Unseeded draws differ between steps, as in separate interpreters (no shared RNG)."""
    from kale_like.model import Prelude

    code = "u = random.random()\nv = float(numpy.random.rand())"
    pipeline = Pipeline(
        name="rng",
        steps=(
            Step("a", (1,), (code,), outputs=("u", "v"), modules=("numpy", "random")),
            Step("b", (2,), (code,), outputs=("u", "v"), modules=("numpy", "random")),
        ),
        prelude=Prelude(imports=("import random\nimport numpy",), import_cells=(0,)),
    )
    req = RunRequest(pipeline=pipeline, parameters={}, run_root=tmp_path / "r", keep_values=True)
    engine = LocalEngine()
    res = engine.run(req)
    assert res.status == "succeeded", res.failed_step
    assert {s.status for s in res.steps.values()} == {"succeeded"}  # no shared entry
    from kale_like.runtime.artifacts import load_value

    entries = {name: Path(res.run_dir) / "steps" / name / "artifacts" for name in ("a", "b")}
    ua, ub = (load_value(entries[n] / "u") for n in ("a", "b"))
    va, vb = (load_value(entries[n] / "v") for n in ("a", "b"))
    assert ua != ub and va != vb
