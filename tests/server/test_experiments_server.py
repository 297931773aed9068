"""GET /kale-like/kfp/experiments: the experiment names of a KFP endpoint, for the panel."""

from __future__ import annotations

import json
from typing import Any

import kfp_kit
import pytest
from kfp_server import KfpServer
from tornado.httpclient import HTTPClientError

clean_kfp_env = kfp_kit.clean_kfp_env


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


server = kfp_kit.server  # its teardown checks every answer against KFP's models


async def get(jp_fetch: Any, **params: str) -> tuple[int, Any]:
    try:
        resp = await jp_fetch("kale-like", "kfp", "experiments", method="GET", params=params)
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body)
    return resp.code, json.loads(resp.body)


async def test_lists_the_experiments_of_the_endpoint(jp_fetch: Any, server: KfpServer) -> None:
    for name in ("team-b", "Default", "team-a"):
        server._create_experiment({"display_name": name})
    code, body = await get(jp_fetch, host=server.url)
    assert code == 200, body
    assert body == {"host": server.url, "experiments": ["Default", "team-a", "team-b"]}


async def test_unreachable_endpoint_is_an_environment_error(jp_fetch: Any) -> None:
    code, body = await get(jp_fetch, host="http://127.0.0.1:9")
    assert code == 503, body
    assert body["error"].startswith("kfp") and body["message"]


async def test_host_must_be_a_url(jp_fetch: Any) -> None:
    code, body = await get(jp_fetch, host="file:///etc/passwd")
    assert code == 400 and body["error"] == "bad-host"
