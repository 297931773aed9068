"""Helpers of the hostile REST probes: notebooks, strict JSON, requests that never raise."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
from nb_kit import notebook as make_notebook  # noqa: F401 - the probes build notebooks here
from tornado.httpclient import HTTPClientError

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


def _no_constants(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def strict_loads(text: str | bytes) -> Any:
    """JSON as a browser's JSON.parse reads it: NaN/Infinity are errors."""
    return json.loads(text, parse_constant=_no_constants)


async def post_raw(jp_fetch: Any, verb: str, body: str | bytes, **kw: Any) -> tuple[int, Any]:
    """POST ``body`` as is; (status, strict JSON answer or text) whatever the status."""
    try:
        resp = await jp_fetch("kale-like", verb, method="POST", body=body, **kw)
    except HTTPClientError as exc:
        assert exc.response is not None, exc
        raw = exc.response.body or b""
        code = exc.code
    else:
        raw, code = resp.body, resp.code
    text = raw.decode("utf-8", "replace")
    return code, (strict_loads(text) if text.startswith("{") else text)


async def post(jp_fetch: Any, verb: str, body: Any, **kw: Any) -> tuple[int, Any]:
    return await post_raw(jp_fetch, verb, json.dumps(body), **kw)


async def get(jp_fetch: Any, *parts: str) -> tuple[int, bytes, Any]:
    """(status, body bytes, headers) of a GET."""
    try:
        resp = await jp_fetch("kale-like", *parts, method="GET")
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, exc.response.body or b"", exc.response.headers
    return resp.code, resp.body, resp.headers


async def wait_job(jp_fetch: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll a job until it ends (each answer must be strict JSON)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, raw, _ = await get(jp_fetch, "runs", job_id)
        assert code == 200, raw
        status = strict_loads(raw)
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.1)
