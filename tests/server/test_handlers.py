"""The server extension's REST handlers, against a real token-protected jupyter server."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nb_kit import notebook as make_notebook  # (source, tags) pairs
from tornado.httpclient import HTTPClientError

from kale_like import api
from kale_like.errors import TagError
from kale_like.run_results import RunEvent, RunResult, StepResult


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


GOOD = (
    ("import math", ["imports"]),
    ("n = 4", ["pipeline-parameters"]),
    ("xs = [math.sqrt(i) for i in range(n)]", ["step:load"]),
    ("total = sum(xs)", ["step:summarize", "prev:load"]),
    ("print(total)", ["pipeline-metrics"]),
)


def write(root: Path, rel: str, nb: nbformat.NotebookNode) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


async def post(jp_fetch: Any, verb: str, body: Any, **kw: Any) -> tuple[int, Any]:
    try:
        resp = await jp_fetch("kale-like", verb, method="POST", body=json.dumps(body), **kw)
    except HTTPClientError as exc:
        assert exc.response is not None
        text = exc.response.body.decode() if exc.response.body else ""
        return exc.code, (json.loads(text) if text.startswith("{") else text)
    return resp.code, json.loads(resp.body)


async def get(jp_fetch: Any, *parts: str, **kw: Any) -> tuple[int, Any]:
    try:
        resp = await jp_fetch("kale-like", *parts, method="GET", **kw)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, exc.response.body
    return resp.code, resp.body


NO_AUTH = {"Authorization": ""}


def patch_verb(monkeypatch: pytest.MonkeyPatch, name: str, fn: Any) -> None:
    """Replace an API verb where the handlers resolve it (its module)."""
    monkeypatch.setattr(importlib.import_module(api._VERBS[name], api.__name__), name, fn)


VERBS = ["analyze", "compile", "run", "build", "deploy", "sweep"]


@pytest.mark.parametrize("verb", VERBS)
async def test_every_post_verb_needs_auth(jp_fetch: Any, jp_root_dir: Path, verb: str) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, _ = await post(jp_fetch, verb, {"path": "nb.ipynb"}, headers=NO_AUTH)
    assert code == 403


@pytest.mark.parametrize("parts", [("runs",), ("runs", "abc123"), ("reports", "x", "y.html")])
async def test_every_get_needs_auth(jp_fetch: Any, parts: tuple[str, ...]) -> None:
    code, _ = await get(jp_fetch, *parts, headers=NO_AUTH)
    assert code == 403


async def test_cancel_needs_auth(jp_fetch: Any) -> None:
    code, _ = await post(jp_fetch, "runs/abc123/cancel", {}, headers=NO_AUTH)
    assert code == 403


async def test_analyze_by_path_matches_the_cli_json(jp_fetch: Any, jp_root_dir: Path) -> None:
    path = write(jp_root_dir, "sub/nb.ipynb", make_notebook(*GOOD))
    code, body = await post(jp_fetch, "analyze", {"path": "sub/nb.ipynb"})
    assert code == 200
    cli = subprocess.run(
        [sys.executable, "-m", "kale_like", "analyze", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert body == json.loads(cli.stdout)
    assert [s["name"] for s in body["steps"]] == ["load", "summarize"]
    assert body["steps"][1]["inputs"] == {"xs": "load"}


async def test_analyze_unsaved_notebook_json(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = make_notebook(*GOOD)
    nb.cells[3].metadata["tags"] = ["step:summarize"]  # no prev: the data edge is inferred
    code, body = await post(jp_fetch, "analyze", {"notebook": nb})
    assert code == 200
    assert body["steps"][1]["after"] == ["load"]
    assert body["pipeline"]["parameters"]["n"] == {"type": "int", "default": 4}


@pytest.mark.parametrize(
    "path",
    ["../outside.ipynb", "sub/../../outside.ipynb", "/etc/passwd", "link/outside.ipynb"],
)
async def test_paths_outside_the_root_are_forbidden(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, path: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write(outside, "outside.ipynb", make_notebook(*GOOD))
    write(jp_root_dir.parent, "outside.ipynb", make_notebook(*GOOD))
    (jp_root_dir / "sub").mkdir(exist_ok=True)
    os.symlink(outside, jp_root_dir / "link")
    for verb in ("analyze", "compile", "run"):
        code, body = await post(jp_fetch, verb, {"path": path})
        assert code == 403, (verb, body)
        assert body["error"] == "forbidden"


async def test_compile_output_dir_outside_the_root_is_forbidden(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, _ = await post(jp_fetch, "compile", {"path": "nb.ipynb", "output_dir": "../out"})
    assert code == 403
    assert not (jp_root_dir.parent / "out").exists()


async def test_missing_notebook_is_404(jp_fetch: Any) -> None:
    code, body = await post(jp_fetch, "analyze", {"path": "nope%2e.ipynb"})
    assert code == 404
    # the same JSON error shape as every other failure, the path as sent
    assert body["error"] == "not-found"
    assert body["message"] == "no such file: nope%2e.ipynb"
    assert body["diagnostics"] == [] and body["cell"] is None


async def test_bad_tag_is_400_with_the_cell(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = make_notebook(*GOOD)
    nb.cells[3].metadata["tags"] = ["step:Bad-Name"]
    code, body = await post(jp_fetch, "analyze", {"notebook": nb})
    assert code == 400
    assert body["error"] == "invalid-step-name"
    assert body["cell"] == 3
    assert "Bad-Name" in body["message"]
    assert isinstance(body["diagnostics"], list)


async def test_syntax_error_is_400_with_diagnostics(jp_fetch: Any, jp_root_dir: Path) -> None:
    write(jp_root_dir, "bad.ipynb", make_notebook(("x = = 1", ["step:a"])))
    code, body = await post(jp_fetch, "compile", {"path": "bad.ipynb"})
    assert code == 400
    assert body["cell"] == 0 or any(d["cell"] == 0 for d in body["diagnostics"])
    assert not (jp_root_dir / "bad_pipeline").exists()


@pytest.mark.parametrize(
    "body", ["not json", json.dumps([1, 2]), json.dumps({"notebook": "x"}), json.dumps({})]
)
async def test_malformed_requests_are_400(jp_fetch: Any, body: str) -> None:
    try:
        await jp_fetch("kale-like", "analyze", method="POST", body=body)
    except HTTPClientError as exc:
        assert exc.code == 400
        assert json.loads(exc.response.body)["error"]  # type: ignore[union-attr]
    else:
        pytest.fail("accepted a malformed request")


async def test_not_a_notebook_is_400(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "junk.ipynb").write_text("{not json")
    code, body = await post(jp_fetch, "analyze", {"path": "junk.ipynb"})
    assert code == 400
    assert body["message"]


async def test_compile_writes_dsl_and_yaml(jp_fetch: Any, jp_root_dir: Path) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb", "output_dir": "out"})
    assert code == 200, body
    assert (jp_root_dir / body["dsl"]).is_file()
    assert (jp_root_dir / body["yaml"]).is_file()
    assert body["dsl"].startswith("out/")


async def wait_job(jp_fetch: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, raw = await get(jp_fetch, "runs", job_id)
        assert code == 200
        status = json.loads(raw)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)


async def test_run_in_background_with_step_states_metrics_and_reports(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, started = await post(jp_fetch, "run", {"path": "nb.ipynb", "parameters": {"n": 5}})
    assert code == 202
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert set(status["steps"]) == {"load", "summarize"}
    assert all(s["status"] in ("succeeded", "cached") for s in status["steps"].values())
    # Ground truth: the notebook top to bottom with n = 5.
    import math

    expected = sum(math.sqrt(i) for i in range(5))
    assert status["result"]["metrics"]["total"] == pytest.approx(expected)
    url = status["result"]["steps"]["summarize"]["report_url"]
    assert "/kale-like/reports/" in url
    code, report = await get(jp_fetch, "reports", url.split("/kale-like/reports/", 1)[1])
    assert code == 200
    assert b"total" in report


async def test_reports_outside_the_run_root_are_refused(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "secret.html").write_text("secret")
    code, _ = await get(jp_fetch, "reports", "..", "..", "secret.html")
    assert code in (403, 404)
    code, _ = await get(jp_fetch, "reports", "nope", "report.html")
    assert code == 404


async def test_run_of_a_failing_step_reports_the_cell(jp_fetch: Any, jp_root_dir: Path) -> None:
    nb = make_notebook(("x = 1", ["step:a"]), ("y = x / 0", ["step:b"]))
    write(jp_root_dir, "fail.ipynb", nb)
    _, started = await post(jp_fetch, "run", {"path": "fail.ipynb"})
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "failed"
    assert status["steps"]["b"]["status"] == "failed"
    assert status["result"]["steps"]["b"]["cell"] == 1
    assert "ZeroDivisionError" in status["result"]["steps"]["b"]["error"]


async def test_unknown_job_is_404(jp_fetch: Any) -> None:
    code, body = await get(jp_fetch, "runs", "0123456789ab")
    assert code == 404
    assert json.loads(body)["error"] == "not-found"
    code, body = await post(jp_fetch, "runs/0123456789ab/cancel", {})
    assert code == 404
    assert body["message"] == "no such job: 0123456789ab"


async def test_cancel_a_running_job(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))

    running = threading.Event()

    def slow_run(notebook: str, *, progress: Any, **kw: Any) -> RunResult:
        # A run that keeps reporting progress until cancelled (the cancel lands in progress).
        for _ in range(600):
            progress(RunEvent("r1", "load", "running"))
            running.set()
            time.sleep(0.05)
        return RunResult("r1", "succeeded", steps={"load": StepResult("load", "succeeded")})

    patch_verb(monkeypatch, "run", slow_run)
    _, started = await post(jp_fetch, "run", {"path": "nb.ipynb"})
    # Cancel once the run is really running (an event, not a guessed delay).
    assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 60)
    code, _ = await post(jp_fetch, f"runs/{started['id']}/cancel", {})
    assert code == 202
    status = await wait_job(jp_fetch, started["id"], timeout=10)
    assert status["status"] == "cancelled"
    assert status["steps"]["load"]["status"] == "cancelled"


async def test_domain_errors_map_to_status_codes(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kale_like.errors import EnvironmentProblem

    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))

    def no_kfp(*a: Any, **k: Any) -> Any:
        raise EnvironmentProblem("KFP is unreachable", kind="kfp-unreachable", fix="start it")

    patch_verb(monkeypatch, "compile", no_kfp)
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb"})
    assert code == 503
    assert body["error"] == "kfp-unreachable"
    assert body["fix"] == "start it"

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    patch_verb(monkeypatch, "compile", broken)
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb"})
    assert code == 500
    assert body["error"] == "internal"

    def bad(*a: Any, **k: Any) -> Any:
        raise TagError("bad tag", kind="unknown-tag", cell=2)

    patch_verb(monkeypatch, "compile", bad)
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb"})
    assert (code, body["cell"]) == (400, 2)


async def test_unknown_options_are_400_with_the_valid_ones(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb", "options": {"colour": 1}})
    assert code == 400
    assert body["error"] == "unknown-option"
    assert "pipeline_name" in body["fix"]


@pytest.mark.parametrize("verb", ["build", "deploy", "sweep"])
async def test_long_verbs_run_as_jobs_with_their_options(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    seen: dict[str, Any] = {}

    def fake(
        notebook: str,
        *,
        registry: str | None = None,
        host: str | None = None,
        params: Any = None,
        progress: Any = None,
    ) -> dict[str, Any]:
        seen.update(notebook=notebook, registry=registry, host=host, params=params)
        progress("step 1 of 1")  # line-oriented progress lands in the job log
        return {"ok": True}

    patch_verb(monkeypatch, verb, fake)
    _, started = await post(
        jp_fetch,
        verb,
        {
            "path": "nb.ipynb",
            "options": {"params": {"n": "choice:1,2"}},
            "hints": {"registry": "localhost:5000", "host": "http://kfp", "unrelated": 1},
        },
    )
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert status["result"] == {"ok": True}
    assert status["log"] == ["step 1 of 1"]
    assert seen == {
        "notebook": str(jp_root_dir / "nb.ipynb"),
        "registry": "localhost:5000",
        "host": "http://kfp",
        "params": {"n": "choice:1,2"},
    }


async def test_path_options_are_confined_and_server_options_refused(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    seen: dict[str, Any] = {}

    def fake(notebook: str, *, output_dir: Any = None, run_root: Any = None) -> dict[str, Any]:
        seen.update(output_dir=output_dir, run_root=run_root)
        return {"ok": True}

    patch_verb(monkeypatch, "sweep", fake)
    # outside the root, in the options or in the panel's hints: refused before any work
    for body in (
        {"path": "nb.ipynb", "options": {"output_dir": "../out"}},
        {"path": "nb.ipynb", "options": {"output_dir": str(jp_root_dir.parent / "out")}},
        {"path": "nb.ipynb", "hints": {"output_dir": "../out"}},
    ):
        code, answer = await post(jp_fetch, "sweep", body)
        assert (code, answer["error"]) == (403, "forbidden"), body
    code, answer = await post(jp_fetch, "run", {"path": "nb.ipynb", "options": {"run_root": "x"}})
    assert (code, answer["error"]) == (400, "unknown-option")
    code, answer = await post(jp_fetch, "sweep", {"path": "nb.ipynb", "options": {"run_fn": "x"}})
    assert code == 400 and "run_fn" in answer["message"]
    assert not seen
    # inside: resolved against the server root (not the server's working directory)
    _, started = await post(
        jp_fetch, "sweep", {"path": "nb.ipynb", "options": {"output_dir": "out"}}
    )
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert seen["output_dir"] == str(jp_root_dir.resolve() / "out")
    assert seen["run_root"] is not None  # the server's own run root
