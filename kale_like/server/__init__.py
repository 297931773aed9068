"""Jupyter server extension: authenticated REST handlers under ``/kale-like/`` over
``kale_like.api`` (see ``handlers.py`` for the routes)."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "kale_like.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Called by jupyter_server when the extension is enabled."""
    import threading

    from .handlers import setup_handlers

    jobs = setup_handlers(server_app.web_app)
    # Server stop (SIGTERM, Ctrl-C, shutdown): cancel the jobs (their steps are killed),
    # bounded, *before* the interpreter joins worker threads (a run's step threads would
    # otherwise keep it waiting for a step that never ends). `atexit` runs too late for that.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(jobs.shutdown)
    else:  # pragma: no cover - other interpreters
        import atexit

        atexit.register(jobs.shutdown)
    server_app.log.info("kale-like: server extension loaded at /kale-like/")


# jupyter_server < 2 name
load_jupyter_server_extension = _load_jupyter_server_extension
