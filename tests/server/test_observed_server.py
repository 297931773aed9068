"""The server's compile takes ``observe``: a local run first, then the observed edges compiled;
analyze then shows them (facts live under the server's run root)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nb_kit import notebook
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


SNEAK = (("base = 1", "step:make"), ("exec('z = 41')", "step:sneak"), ("w = z + 1", "step:use"))


async def post(jp_fetch: Any, verb: str, body: Any) -> tuple[int, Any]:
    try:
        resp = await jp_fetch("kale-like", verb, method="POST", body=json.dumps(body))
    except HTTPClientError as exc:
        assert exc.response is not None
        return exc.code, json.loads(exc.response.body or b"{}")
    return resp.code, json.loads(resp.body)


async def test_compile_with_observe_carries_the_observed_edge(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    nbformat.write(notebook(*SNEAK), jp_root_dir / "nb.ipynb")
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb", "output_dir": "plain"})
    assert code == 200, body
    plain = yaml.safe_load((jp_root_dir / body["yaml"]).read_text())
    assert "z" not in plain["root"]["dag"]["tasks"]["use"].get("inputs", {}).get("artifacts", {})

    body_in = {"path": "nb.ipynb", "output_dir": "out", "observe": True}
    code, body = await post(jp_fetch, "compile", body_in)
    assert code == 200, body
    spec = yaml.safe_load((jp_root_dir / body["yaml"]).read_text())
    arts = spec["root"]["dag"]["tasks"]["use"]["inputs"]["artifacts"]
    assert arts["z"]["taskOutputArtifact"]["producerTask"] == "sneak"
    assert any(d["kind"] == "observed-write" for d in body["diagnostics"])

    code, data = await post(jp_fetch, "analyze", {"path": "nb.ipynb"})
    assert code == 200
    use = next(s for s in data["steps"] if s["name"] == "use")
    assert use["observed"] == ["z"] and use["inputs"] == {"z": "sneak"}


async def test_compile_observe_must_be_a_boolean(jp_fetch: Any, jp_root_dir: Path) -> None:
    nbformat.write(notebook(*SNEAK), jp_root_dir / "nb.ipynb")
    code, body = await post(jp_fetch, "compile", {"path": "nb.ipynb", "observe": "yes"})
    assert code == 400 and body["error"] == "bad-options"
    assert not (jp_root_dir / "nb_pipeline").exists()


async def test_compile_observe_on_a_failing_notebook_writes_nothing(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    cells = (("base = 1", "step:make"), ("z = base / 0", "step:sneak"))
    nbformat.write(notebook(*cells), jp_root_dir / "bad.ipynb")
    code, body = await post(jp_fetch, "compile", {"path": "bad.ipynb", "observe": True})
    assert code == 409 and body["step"] == "sneak" and body["cell"] == 1
    assert not (jp_root_dir / "bad_pipeline").exists()
