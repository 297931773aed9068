"""Jupyter server extension: authenticated REST handlers under ``/kale-like/`` over
``kale_like.api`` (see ``handlers.py`` for the routes)."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "kale_like.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Called by jupyter_server when the extension is enabled."""
    from .handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("kale-like: server extension loaded at /kale-like/")


# jupyter_server < 2 name
load_jupyter_server_extension = _load_jupyter_server_extension
