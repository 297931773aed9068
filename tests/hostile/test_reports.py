"""Step reports served by the server (issue 12, items 7 and 23): HTML labelled as HTML under
a sandboxing Content-Security-Policy, rendered by nbconvert like the notebook (rich outputs
included) on first view, never on the run's critical path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_kit import get, make_notebook, post, wait_job, write

RICH = """
class Table:
    def _repr_html_(self):
        return "<table class='kale-probe'><tr><td>cell-value-42</td></tr></table>"

Table()
"""
PNG = (
    "import base64\nfrom IPython.display import Image, display\n"
    "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')\n"
    "display(Image(png))\nsize = len(png)"
)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"kale_like": True}}}


async def run_and_report(jp_fetch: Any, root: Path) -> tuple[str, Path]:
    write(
        root,
        "rich.ipynb",
        make_notebook((RICH, ["step:show"]), (PNG, ["step:picture", "prev:show"])),
    )
    code, started = await post(jp_fetch, "run", {"path": "rich.ipynb"})
    assert code == 202, started
    status = await wait_job(jp_fetch, started["id"])
    assert status["status"] == "succeeded", status
    url = status["result"]["steps"]["show"]["report_url"]
    rel = url.split("/kale-like/reports/", 1)[1]
    run_dir = root / status["result"]["run_dir"]
    return rel, run_dir


async def test_a_report_is_html_under_a_sandbox_policy(jp_fetch: Any, jp_root_dir: Path) -> None:
    rel, _ = await run_and_report(jp_fetch, jp_root_dir)
    code, body, headers = await get(jp_fetch, "reports", rel)
    assert code == 200
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    directives = [d.strip() for d in csp.split(";")]
    assert "sandbox" in directives  # no allow-scripts, no allow-same-origin
    assert "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert b"cell-value-42" in body


async def test_reports_are_rendered_by_nbconvert_on_first_view_only(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    rel, run_dir = await run_and_report(jp_fetch, jp_root_dir)
    rendered = sorted(run_dir.rglob("report.nbconvert.html"))
    assert rendered == []  # the run itself never paid for nbconvert
    code, body, _ = await get(jp_fetch, "reports", rel)
    assert code == 200
    text = body.decode()
    # nbconvert's page (its lab template), with the rich output as HTML, not as text.
    assert "jp-Notebook" in text
    assert "<table class='kale-probe'>" in text or '<table class="kale-probe">' in text
    cached = run_dir / "steps" / "show" / "report.nbconvert.html"
    assert cached.is_file()
    stamp = cached.stat().st_mtime_ns
    code, again, _ = await get(jp_fetch, "reports", rel)
    assert again == body and cached.stat().st_mtime_ns == stamp  # served from the cache
    # The picture step's PNG is embedded as an image, as the notebook shows it.
    pic_rel = rel.replace("/show/", "/picture/")
    code, pic, _ = await get(jp_fetch, "reports", pic_rel)
    assert code == 200 and b"data:image/png;base64,iVBORw0KGgo" in pic


async def test_an_unrenderable_step_notebook_falls_back_to_the_fast_report(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    rel, run_dir = await run_and_report(jp_fetch, jp_root_dir)
    (run_dir / "steps" / "show" / "step.ipynb").write_text("{broken", encoding="utf-8")
    code, body, headers = await get(jp_fetch, "reports", rel)
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert b"cell-value-42" in body  # the runtime's own page
