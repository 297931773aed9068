"""The executed step notebook (.ipynb) and its HTML report.

Both are written without importing nbformat or nbconvert (together ~2 s of start-up per
step): the notebook is plain nbformat 4.5 JSON, the HTML a small self-contained page that
escapes every piece of text and embeds images as data URLs. Each code cell carries
``metadata.kale_like = {"index": N, "role": ...}`` (N = the notebook cell index) so engines
can merge a step's outputs back into the user's notebook.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import cell_label
from ..fsutil import write_text_atomic
from .execute import CellResult

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _cell_id(step: str, index: int | None, role: str) -> str:
    return hashlib.sha1(f"{step}:{role}:{index}".encode()).hexdigest()[:12]


def _is_text(mime: str) -> bool:
    return (mime.startswith("text/") or mime == "image/svg+xml") and not mime.endswith("json")


def _nb_output(out: dict[str, Any]) -> dict[str, Any]:
    out = dict(out)
    if out["output_type"] == "stream":
        out["text"] = _lines(out["text"])
    elif out["output_type"] in ("display_data", "execute_result"):
        # Text mimetypes are stored as line lists (as Jupyter does); base64 stays one string.
        out["data"] = {
            k: (_lines(v) if isinstance(v, str) and _is_text(k) else v)
            for k, v in out["data"].items()
        }
    return out


def notebook_json(
    spec: dict[str, Any],
    cells: Iterable[tuple[str, CellResult]],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """An nbformat 4.5 notebook of the executed step: prelude, parameters, step cells."""
    step = spec["step"]
    nb_cells: list[dict[str, Any]] = []
    if parameters:
        src = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
        nb_cells.append(
            {
                "cell_type": "code",
                "id": _cell_id(step, None, "parameters"),
                "metadata": {
                    "tags": ["injected-parameters"],
                    "kale_like": {"index": None, "role": "parameters"},
                },
                "execution_count": None,
                "source": _lines(src),
                "outputs": [],
            }
        )
    for role, res in cells:
        nb_cells.append(
            {
                "cell_type": "code",
                "id": _cell_id(step, res.index, role),
                "metadata": {
                    "kale_like": {
                        "index": res.index,
                        "role": role,
                        "seconds": round(res.seconds, 6),
                        "error": res.error is not None,
                    },
                },
                "execution_count": res.execution_count,
                "source": _lines(res.source),
                "outputs": [_nb_output(o) for o in res.outputs],
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "kale_like": {"pipeline": spec.get("pipeline"), "step": step},
        },
        "cells": nb_cells,
    }


def write_notebook(path: str | Path, nb: dict[str, Any]) -> None:
    write_text_atomic(Path(path), json.dumps(nb, indent=1, ensure_ascii=False, default=repr) + "\n")


def _text(t: Any) -> str:
    return "".join(t) if isinstance(t, list) else str(t)


def _render_output(out: dict[str, Any]) -> str:
    kind = out["output_type"]
    if kind == "stream":
        cls = "stderr" if out.get("name") == "stderr" else "stdout"
        return f'<pre class="{cls}">{html.escape(_ANSI.sub("", _text(out["text"])))}</pre>'
    if kind == "error":
        tb = "\n".join(out.get("traceback") or [f"{out['ename']}: {out['evalue']}"])
        return f'<pre class="error">{html.escape(_ANSI.sub("", tb))}</pre>'
    data = out.get("data", {})
    for mime in ("image/png", "image/jpeg", "image/gif"):
        if mime in data:
            b64 = re.sub(r"[^A-Za-z0-9+/=]", "", _text(data[mime]))
            return f'<img alt="output" src="data:{mime};base64,{b64}">'
    if "image/svg+xml" in data:
        # SVG can carry script: embed it as an escaped data URL inside <img>, which never runs it.
        import base64

        b64 = base64.b64encode(_text(data["image/svg+xml"]).encode()).decode()
        return f'<img alt="output" src="data:image/svg+xml;base64,{b64}">'
    if "text/html" in data:
        # User HTML (e.g. a DataFrame) goes into a sandboxed frame: shown, never executed.
        doc = html.escape(_text(data["text/html"]), quote=True)
        return f'<iframe class="html" sandbox="" srcdoc="{doc}"></iframe>'
    if "text/plain" in data:
        return f"<pre>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}
.cell{border-left:3px solid #ccc;margin:1em 0;padding-left:.8em}
.cell.failed{border-color:#c00}
.src{background:#f6f8fa;padding:.5em;overflow:auto}
.meta{color:#666;font-size:.85em}
pre{white-space:pre-wrap;margin:.3em 0}
pre.stderr{background:#fff4e5}
pre.error{background:#fdecea;color:#900}
iframe.html{width:100%;min-height:12em;border:1px solid #ddd}
img{max-width:100%}
"""


def render_html(nb: dict[str, Any]) -> str:
    meta = nb["metadata"].get("kale_like", {})
    title = f"step {meta.get('step')} of {meta.get('pipeline')}"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for cell in nb["cells"]:
        km = cell["metadata"].get("kale_like", {})
        failed = " failed" if km.get("error") else ""
        where = "parameters" if km.get("index") is None else cell_label(km["index"])
        parts.append(
            f'<div class="cell{failed}"><div class="meta">{html.escape(where)} '
            f"({html.escape(str(km.get('role')))})</div>"
        )
        parts.append(f'<pre class="src">{html.escape(_text(cell["source"]))}</pre>')
        parts.extend(_render_output(o) for o in cell.get("outputs", []))
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(path: str | Path, nb: dict[str, Any]) -> None:
    """The HTML report; ``KALE_LIKE_REPORT=nbconvert`` renders it with nbconvert instead."""
    if os.environ.get("KALE_LIKE_REPORT") == "nbconvert":
        write_text_atomic(Path(path), render_nbconvert(nb))
    else:
        write_text_atomic(Path(path), render_html(nb))


def render_nbconvert(nb: dict[str, Any]) -> str:
    """Jupyter's own HTML export (costs ~1 s of imports per step)."""
    try:
        import nbconvert
        import nbformat
    except ModuleNotFoundError as exc:
        from ..errors import missing_extra

        raise missing_extra(str(exc.name), "papermill", "the nbconvert report") from exc
    # reads() joins the line lists of the file format back into strings, as nbconvert needs.
    node = nbformat.reads(json.dumps(nb, default=repr), as_version=4)
    body, _ = nbconvert.HTMLExporter().from_notebook_node(node)
    return str(body)
