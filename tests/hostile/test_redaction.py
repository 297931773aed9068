"""Hostile probe (issue 12, item 16): a redirect whose Location carries the token never
prints it, raw or URL-encoded, nor any credential-like URL parameter."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from kale_like.errors import EnvironmentProblem
from kale_like.kubeflow import client as kc
from kale_like.kubeflow import config as kfp_config

TOKEN = "tok/0123+456789=secret"


class _Redirecting(http.server.BaseHTTPRequestHandler):
    location = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def gateway() -> Iterator[tuple[http.server.HTTPServer, type[_Redirecting]]]:
    handler = type("Handler", (_Redirecting,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.mark.parametrize(
    "location",
    [
        f"https://login.example/auth?token={TOKEN}",
        f"https://login.example/auth?next=/x&access_token={quote(TOKEN, safe='')}",
        f"/dex/auth#id_token={quote(TOKEN)}&state=1",
    ],
)
def test_a_redirect_location_carrying_the_token_is_redacted(
    gateway: tuple[http.server.HTTPServer, type[_Redirecting]], location: str
) -> None:
    server, handler = gateway
    handler.location = location
    host = f"http://127.0.0.1:{server.server_address[1]}"
    config = kfp_config.resolve(host=host, env={"KFP_TOKEN": TOKEN})
    with pytest.raises(EnvironmentProblem) as err:
        kc.connect(config, retry=kc.Retry(attempts=1, base=0.01))
    text = str(err.value) + repr(err.value.to_json())
    assert err.value.kind == "kfp-login-redirect"
    assert "login.example" in text or "/dex/auth" in text  # still says where it went
    for form in (TOKEN, quote(TOKEN, safe=""), quote(TOKEN), "0123+456789"):
        assert form not in text


def test_redact_covers_encoded_secrets_and_token_parameters() -> None:
    text = f"see https://h/cb?code=abc123&token={quote(TOKEN, safe='')}&x=1 Bearer {TOKEN}"
    out = kfp_config.redact(text, [TOKEN])
    assert TOKEN not in out and quote(TOKEN, safe="") not in out and "abc123" not in out
    assert "x=1" in out and "https://h/cb?" in out
