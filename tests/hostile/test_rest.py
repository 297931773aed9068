"""Hostile requests against the REST surface (issue 12, items 4-8 and 10): each answers a
clear 4xx JSON error before any work starts, never a 500, a hang or a leaked file."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from rest_kit import GOOD, get, make_notebook, post, post_raw, strict_loads, wait_job, write

from kale_like import api

LIMIT = 64 * 1024  # bytes: small, so the probes stay cheap
MAX_LINES = 200


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"kale_like": True},
            "tornado_settings": {
                "kale_like_max_request_bytes": LIMIT,
                "kale_like_max_source_lines": MAX_LINES,
            },
        }
    }


def patch_verb(monkeypatch: pytest.MonkeyPatch, name: str, fn: Any) -> None:
    monkeypatch.setattr(importlib.import_module(api._VERBS[name], api.__name__), name, fn)


async def no_jobs(jp_fetch: Any) -> bool:
    code, raw, _ = await get(jp_fetch, "runs")
    return code == 200 and strict_loads(raw)["jobs"] == []


# -- item 4: path-like options are confined wherever they are nested ------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"options": {"engine": "kfp", "engine_options": {"token_file": "SECRET"}}},
        {"options": {"engine": "kfp", "engine_options": {"token_file": "../secret.txt"}}},
        {"hints": {"nested": {"token_file": "SECRET"}}},
        {"options": {"engine_options": {"deeper": [{"config_path": "../x.yaml"}]}}},
    ],
)
async def test_token_file_outside_the_root_is_refused_at_any_depth(
    jp_fetch: Any, jp_root_dir: Path, tmp_path_factory: pytest.TempPathFactory, body: Any
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    secret = tmp_path_factory.mktemp("outside") / "token"
    secret.write_text("s3cr3t-token")
    text = json.dumps({"path": "nb.ipynb", **body}).replace("SECRET", str(secret))
    verb = "run" if "options" in body else "deploy"
    code, answer = await post_raw(jp_fetch, verb, text)
    assert code == 403, answer
    assert answer["error"] == "forbidden"
    assert "s3cr3t" not in json.dumps(answer)
    assert await no_jobs(jp_fetch)  # refused before any job started


async def test_token_file_inside_the_root_reaches_the_engine_resolved(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    seen: dict[str, Any] = {}

    def fake_run(notebook: Any, *, engine: str = "local", engine_options: Any = None, **kw: Any):
        seen.update(engine=engine, options=engine_options)
        raise RuntimeError("stop here")

    patch_verb(monkeypatch, "run", fake_run)
    code, started = await post(
        jp_fetch,
        "run",
        {"path": "nb.ipynb", "options": {"engine": "kfp", "engine_options": {"token_file": "t"}}},
    )
    assert code == 202, started
    await wait_job(jp_fetch, started["id"])
    assert seen["options"]["token_file"] == str(jp_root_dir.resolve() / "t")


# -- item 5: size limits -----------------------------------------------------------------------


async def test_an_oversized_body_is_413_before_it_is_parsed(jp_fetch: Any) -> None:
    # Not even JSON: a parser would answer 400; the size check answers first.
    code, answer = await post_raw(jp_fetch, "analyze", b"{" + b"x" * (LIMIT + 10))
    assert code == 413, answer
    assert answer["error"] == "too-large"
    assert str(LIMIT) in answer["message"]
    assert "kale_like_max_request_bytes" in answer["fix"]
    assert "KALE_LIKE_MAX_REQUEST_BYTES" in answer["fix"]


async def test_an_oversized_notebook_body_is_413_on_every_verb(jp_fetch: Any) -> None:
    nb = make_notebook(("x = 1  # " + "y" * LIMIT, ["step:a"]))
    for verb in ("analyze", "compile", "run", "build", "deploy", "sweep"):
        code, answer = await post(jp_fetch, verb, {"notebook": nb})
        assert code == 413, (verb, answer)
    assert await no_jobs(jp_fetch)


async def test_a_notebook_past_the_source_line_limit_is_413_naming_the_setting(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    big = make_notebook(*[(f"v{i} = {i}", ["step:a"] if i == 0 else []) for i in range(300)])
    code, answer = await post(jp_fetch, "analyze", {"notebook": big})
    assert code == 413, answer
    assert "300 source lines" in answer["message"] and str(MAX_LINES) in answer["message"]
    assert "KALE_LIKE_MAX_SOURCE_LINES" in answer["fix"]
    write(jp_root_dir, "big.ipynb", big)  # the same notebook saved: refused by path too
    code, answer = await post(jp_fetch, "run", {"path": "big.ipynb"})
    assert code == 413, answer
    assert await no_jobs(jp_fetch)


def test_the_default_limits() -> None:
    from kale_like.server.validate import Limits

    limits = Limits.from_settings({}, env={})
    assert limits.max_bytes == 20 * 1024 * 1024
    assert Limits.from_settings({}, env={"KALE_LIKE_MAX_REQUEST_BYTES": "1000"}).max_bytes == 1000


# -- item 6: bad input is 400 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "body", "kind"),
    [
        ("analyze", {"path": "nb\x00.ipynb"}, "bad-path"),
        ("run", {"path": "nb.ipynb\x00/etc/passwd"}, "bad-path"),
        ("run", {"path": "nb.ipynb", "options": {"jobs": "x"}}, "bad-options"),
        ("run", {"path": "nb.ipynb", "options": {"jobs": 0}}, "bad-options"),
        ("run", {"path": "nb.ipynb", "options": {"use_cache": "no"}}, "bad-options"),
        ("run", {"path": "nb.ipynb", "options": {"engine_options": "x"}}, "bad-options"),
        ("run", {"path": "nb.ipynb", "parameters": [1]}, "bad-options"),
        ("run", {"path": "nb.ipynb", "colour": "red"}, "bad-request"),
        ("sweep", {"path": "nb.ipynb", "options": {"trials": -1}}, "bad-options"),
        ("sweep", {"path": "nb.ipynb", "options": {"params": 3}}, "bad-options"),
        ("deploy", {"path": "nb.ipynb", "hints": {"host": 7}}, "bad-options"),
        ("compile", {"path": "nb.ipynb", "output_dir": ["a"]}, "bad-options"),
        ("compile", {"path": 5}, "bad-path"),
        ("run", {"path": "nb.ipynb", "options": {"engine": "nope"}}, "unknown-engine"),
    ],
)
async def test_bad_input_is_400_not_500(
    jp_fetch: Any, jp_root_dir: Path, verb: str, body: Any, kind: str
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, answer = await post(jp_fetch, verb, body)
    assert code == 400, answer
    assert answer["error"] == kind, answer
    assert await no_jobs(jp_fetch)


@pytest.mark.parametrize("depth", [200, 30_000])
async def test_deeply_nested_json_is_400(jp_fetch: Any, depth: int) -> None:
    body = '{"notebook": ' + "[" * depth + "]" * depth + "}"
    code, answer = await post_raw(jp_fetch, "analyze", body)
    assert code == 400, answer
    assert "deeper" in answer["message"]


async def test_unsaved_notebook_json_runs_like_the_saved_one(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    edited = make_notebook(*GOOD[:1], ("n = 6", ["pipeline-parameters"]), *GOOD[2:])
    code, started = await post(jp_fetch, "run", {"notebook": edited, "path": "nb.ipynb"})
    assert code == 202, started
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    # Ground truth: the edited notebook top to bottom (n = 6), not the saved one (n = 4).
    truth: dict[str, Any] = {}
    exec("\n".join(c.source for c in edited.cells[:4]), truth)
    assert status["result"]["metrics"]["total"] == pytest.approx(truth["total"])


@pytest.mark.parametrize("verb", ["build", "sweep"])
async def test_unsaved_notebook_json_reaches_build_and_sweep_as_its_pipeline(
    jp_fetch: Any, jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    seen: dict[str, Any] = {}

    def fake(notebook: Any, **kw: Any) -> dict[str, Any]:
        seen["steps"] = [s.name for s in notebook.steps]
        seen["notebook_path"] = notebook.notebook_path
        return {"ok": True}

    patch_verb(monkeypatch, verb, fake)
    code, started = await post(
        jp_fetch, verb, {"notebook": make_notebook(*GOOD), "path": "sub/nb.ipynb"}
    )
    assert code == 202, started
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    assert seen["steps"] == ["load", "summarize"]
    assert seen["notebook_path"] == str(jp_root_dir.resolve() / "sub" / "nb.ipynb")


# -- item 8: non-finite metrics ------------------------------------------------------------------


async def test_a_nan_metric_keeps_every_answer_strict_json(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    nb = make_notebook(
        ("loss = float('nan')\nbest = float('inf')\nok = 1.5", ["step:train"]),
        ("print(loss)\nprint(best)\nprint(ok)", ["pipeline-metrics"]),
    )
    write(jp_root_dir, "nan.ipynb", nb)
    code, started = await post(jp_fetch, "run", {"path": "nan.ipynb"})
    assert code == 202
    status = await wait_job(jp_fetch, started["id"])  # strict parse of every poll
    assert status["status"] == "succeeded", status
    assert status["result"]["metrics"] == {"loss": None, "best": None, "ok": 1.5}
    code, raw, _ = await get(jp_fetch, "runs")
    assert code == 200
    assert [j["id"] for j in strict_loads(raw)["jobs"]] == [started["id"]]


# -- item 10: engine options and image references ------------------------------------------------


async def test_an_option_the_engine_ignores_is_400_naming_it(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    code, answer = await post(
        jp_fetch, "run", {"path": "nb.ipynb", "options": {"engine_options": {"token_file": "t"}}}
    )
    assert code == 400, answer
    assert answer["error"] == "unknown-engine-option"
    assert "token_file" in answer["message"] and "'local'" in answer["message"]
    assert await no_jobs(jp_fetch)


async def test_invalid_image_references_are_400_and_nothing_is_written(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    write(jp_root_dir, "nb.ipynb", make_notebook(*GOOD))
    for options in ({"images": {"load": "x; rm -rf /"}}, {"base_image": "bad image"}):
        code, answer = await post(
            jp_fetch, "compile", {"path": "nb.ipynb", "output_dir": "out", "options": options}
        )
        assert code == 400, answer
        assert answer["error"] == "bad-image"
    assert not (jp_root_dir / "out").exists()


def test_metrics_nan_is_null_in_strict_json() -> None:
    from kale_like.jsonsafe import dumps

    text = dumps({"a": math.nan, "b": [math.inf, -math.inf, 1.0], "c": (2.0,)})
    assert strict_loads(text) == {"a": None, "b": [None, None, 1.0], "c": [2.0]}
