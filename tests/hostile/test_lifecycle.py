"""Process lifecycle under hostile conditions (issue 12, A1-A3 and B9): a killed runner
takes its steps (and what they started) with it, a `timeout:` holds without the runner,
REST cancel stops a never-ending step, a server stops with a job running, and runs started
from the server are the CLI's runs."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from lifecycle_kit import PidReport, endless_notebook, env, wait_dead, with_marker
from tornado.httpclient import HTTPClientError

if not sys.platform.startswith("linux"):
    pytest.skip("process-lifecycle probes read /proc", allow_module_level=True)


def start_run(nb: Path, root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kale_like", "run", str(nb), "--run-root", str(root)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # as a CI job or `timeout` would run it: signals are ours
    )


def runs_list(root: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "kale_like", "runs", "list", "--run-root", str(root), "--json"],
        env=env(),
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture
def report(tmp_path: Path) -> Any:
    rep = PidReport(tmp_path)
    yield rep
    rep.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_killed_runner_takes_its_steps_along(tmp_path: Path, report: PidReport, sig: int) -> None:
    marker = f"kale-hostile-{uuid.uuid4().hex}"
    nb = endless_notebook(tmp_path / "nb.ipynb", report.path, marker)
    runner = start_run(nb, tmp_path / "root")
    try:
        step, child = report.wait()
        runner.send_signal(sig)
        runner.wait(timeout=30)
        assert wait_dead([step, child], timeout=15) == []
        assert with_marker(marker) == []
    finally:
        runner.kill()
        runner.wait()
    [row] = runs_list(tmp_path / "root")
    assert row["status"] == "interrupted"


def test_timeout_holds_after_the_runner_is_sigkilled(tmp_path: Path, report: PidReport) -> None:
    marker = f"kale-hostile-{uuid.uuid4().hex}"
    nb = endless_notebook(tmp_path / "nb.ipynb", report.path, marker, "timeout:2")
    runner = start_run(nb, tmp_path / "root")
    try:
        step, child = report.wait()
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
        assert wait_dead([step, child], timeout=2 + 10) == []
        assert with_marker(marker) == []
    finally:
        runner.kill()
        runner.wait()


def test_timeout_holds_while_the_runner_is_stopped(tmp_path: Path, report: PidReport) -> None:
    """The keeper, not the runner, enforces `timeout:` (a stopped runner cannot)."""
    marker = f"kale-hostile-{uuid.uuid4().hex}"
    nb = endless_notebook(tmp_path / "nb.ipynb", report.path, marker, "timeout:2")
    runner = start_run(nb, tmp_path / "root")
    try:
        step, child = report.wait()
        runner.send_signal(signal.SIGSTOP)
        assert wait_dead([step, child], timeout=2 + 10) == []
        assert with_marker(marker) == []
    finally:
        runner.kill()
        runner.wait()


# -- the REST surface ---------------------------------------------------------------------


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


async def call(jp_fetch: Any, method: str, *parts: str, body: Any = None) -> tuple[int, Any]:
    try:
        kw = {"body": json.dumps(body)} if method == "POST" else {}
        resp = await jp_fetch("kale-like", *parts, method=method, **kw)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body or b"{}")
    return resp.code, json.loads(resp.body)


async def test_rest_cancel_stops_a_never_ending_step(
    jp_fetch: Any, jp_root_dir: Path, report: PidReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KALE_LIKE_RUN_ROOT", raising=False)
    marker = f"kale-hostile-{uuid.uuid4().hex}"
    endless_notebook(jp_root_dir / "nb.ipynb", report.path, marker)
    code, started = await call(jp_fetch, "POST", "run", body={"path": "nb.ipynb"})
    assert code == 202, started
    loop = asyncio.get_running_loop()
    step, child = await loop.run_in_executor(None, report.wait)
    code, _ = await call(jp_fetch, "POST", "runs", started["id"], "cancel")
    assert code == 202
    assert await loop.run_in_executor(None, wait_dead, [step, child], 10.0) == []
    assert with_marker(marker) == []
    deadline = loop.time() + 10
    while True:  # the job ends once the step is gone: a short bounded poll of its status
        code, status = await call(jp_fetch, "GET", "runs", started["id"])
        if status["status"] != "running" or loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "cancelled", status
    # B9: the run is the CLI's: under <server root>/.kale_like, listed by `runs list`.
    [row] = runs_list(jp_root_dir / ".kale_like")
    assert row["run_id"] == status["run_id"]
    assert row["status"] == "cancelled"


def test_server_stops_with_a_job_running(tmp_path: Path, report: PidReport) -> None:
    """SIGTERM to a Jupyter server running a never-ending step: it exits, the step dies."""
    import socket
    import urllib.error
    import urllib.request

    marker = f"kale-hostile-{uuid.uuid4().hex}"
    endless_notebook(tmp_path / "nb.ipynb", report.path, marker)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.token=tok",
            f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.jpserver_extensions={'kale_like': True}",
        ],
        env={**env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert server.stderr is not None
        seen: list[bytes] = []
        for line in server.stderr:  # wait for the server's URL (bounded by its exit)
            seen.append(line)
            found = re.search(rb"http://127\.0\.0\.1:(\d+)/", line)
            if found:  # the port it really listens on (it moves on if ours was taken)
                port = int(found.group(1))
                break
        assert server.poll() is None, b"".join(seen).decode(errors="replace")[-3000:]
        # Keep reading its log: a full pipe would block the server, not our code.
        threading.Thread(target=server.stderr.read, daemon=True).start()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/kale-like/run",
            data=json.dumps({"path": "nb.ipynb"}).encode(),
            headers={"Authorization": "token tok"},
            method="POST",
        )
        # The server may log its URL before its socket accepts: retry refused connects while
        # it lives (bounded), then the request must be accepted.
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    assert resp.status == 202
                break
            except urllib.error.URLError as exc:
                refused = isinstance(exc.reason, ConnectionRefusedError)
                if not refused or server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        step, child = report.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)  # never hangs on the job
        assert wait_dead([step, child], timeout=10) == []
        assert with_marker(marker) == []
    finally:
        server.kill()
        server.wait()
    [row] = runs_list(tmp_path / ".kale_like")
    assert row["status"] in ("cancelled", "interrupted")
