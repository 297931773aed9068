"""POST /kale-like/suggest: the proposal for the panel (never writes the notebook)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nb_kit import notebook as build_notebook
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


def notebook() -> Any:
    sources = [
        "import math",
        "xs = list(range(10))",
        "left = sum(math.sqrt(x) for x in xs)",
        "right = max(xs) * 3",
        "total = left + right",
    ]
    return build_notebook(*((src, []) for src in sources))  # untagged: suggest tags them


async def post(jp_fetch: Any, body: Any) -> tuple[int, Any]:
    try:
        resp = await jp_fetch("kale-like", "suggest", method="POST", body=json.dumps(body))
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return resp.code, json.loads(resp.body)


async def test_suggest_by_path_proposes_parallel_branches(jp_fetch: Any, jp_root_dir: Path) -> None:
    path = jp_root_dir / "nb.ipynb"
    path.write_text(json.dumps(notebook()), encoding="utf-8")
    before = path.read_bytes()
    code, body = await post(jp_fetch, {"path": "nb.ipynb"})
    assert code == 200, body
    assert body["width"] == 2
    assert body["roles"] == {"0": "imports"}
    tags = [c["metadata"].get("tags") for c in body["notebook"]["cells"]]
    assert tags[0] == ["imports"] and all(t and t[0].startswith("step:") for t in tags[1:])
    assert path.read_bytes() == before  # the server never writes


async def test_suggest_unsaved_notebook_and_options(jp_fetch: Any) -> None:
    code, body = await post(jp_fetch, {"notebook": notebook(), "max_steps": 1})
    assert code == 200, body
    assert len(body["steps"]) == 1 and body["single_step"] == "--max-steps 1"


@pytest.mark.parametrize(
    "body",
    [
        {"notebook": {}, "max_steps": 0},
        {"notebook": {}, "min_step_seconds": "x"},
        {"path": "../x.ipynb"},
    ],
)
async def test_suggest_bad_requests(jp_fetch: Any, body: dict[str, Any]) -> None:
    code, answer = await post(jp_fetch, body)
    assert code in (400, 403) and "message" in answer
