"""``POST /kale-like/suggest``: the proposed step split of a notebook, for the panel.

Body ``{"path"} | {"notebook", "path"?}`` plus optional ``"max_steps"`` (int >= 1) and
``"min_step_seconds"`` (number >= 0). Answers the ``kale-like suggest --json`` dict plus
``"notebook"`` (the notebook JSON with the proposed tags). Never writes: the panel applies
the tags to the open notebook itself, as one undoable edit.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from ..errors import UsageError
from .base import KaleHandler
from .validate import read_request

__all__ = ["SuggestHandler"]

_LIMITS: dict[str, tuple[Any, int, int]] = {
    "max_steps": (int, 1, 200),
    "min_step_seconds": ((int, float), 0, 86_400),
}


def _options(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (kind, low, high) in _LIMITS.items():
        if body.get(key) is None:
            continue
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            raise UsageError(
                f"'{key}' must be a number from {low} to {high}, got {value!r}",
                kind="bad-options",
            )
        out[key] = value
    return out


def suggestion(notebook: Any, run_root: Any, **options: Any) -> dict[str, Any]:
    from ..api.suggestions import suggest

    result = suggest(notebook, run_root=run_root, **options)
    out = result.to_json()
    out["notebook"] = result.notebook_json
    return out


class SuggestHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            body = self.body()
            options = _options(body)
            rest = {k: v for k, v in body.items() if k not in _LIMITS}
            # The notebook part is checked and confined exactly as for analyze.
            req = read_request("analyze", rest, self.root, self.limits)
            if req.saved is not None and not isinstance(req.notebook, str):
                options["path"] = str(req.saved)  # its earlier runs give the timings
            result = await self.in_thread(suggestion, req.notebook, self.run_root, **options)
            if req.path and isinstance(result.get("notebook"), dict):
                result["path"] = req.path
            self.send(200, result)

        await self.guard(work())
