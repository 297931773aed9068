"""The server extension's REST handlers, against a real token-protected jupyter server."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4
from tornado.httpclient import HTTPClientError

from kale_like import api
from kale_like.errors import TagError
from kale_like.results import RunEvent, RunResult, StepResult


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


def make_notebook(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    for source, tags in cells:
        cell = v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


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
