"""The base of every kale-like REST handler: bounded JSON bodies, request checks, error
mapping and background jobs. Route modules (handlers, experiments, suggest) build on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import api
from ..jsonsafe import dumps
from . import verbs
from .jobs import JobContext, JobManager
from .validate import (
    Forbidden,
    Limits,
    NotFound,
    Request,
    TooLarge,
    parse_body,
    read_request,
    too_large_body,
)
from .verbs import error_body

NAMESPACE = "kale-like"

__all__ = ["NAMESPACE", "KaleHandler"]


@tornado.web.stream_request_body
class KaleHandler(APIHandler):
    """Shared plumbing: bounded JSON bodies, request checks and error mapping.

    Bodies are streamed so an oversized one is refused (413) from its Content-Length, or
    as soon as it passes the limit, without ever being held in memory whole."""

    def initialize(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def root(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    @property
    def jobs(self) -> JobManager:
        return self.settings["kale_like_jobs"]

    @property
    def run_root(self) -> Path:
        return Path(self.settings["kale_like_run_root"]).resolve()

    @property
    def limits(self) -> Limits:
        return self.settings["kale_like_limits"]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "POST":
            return
        if not self.current_user:
            raise tornado.web.HTTPError(403)  # read no body for a stranger
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.limits.max_bytes:
            self.refuse(too_large_body(int(length), self.limits))
            return
        # A chunked body is counted in data_received; past twice the limit tornado itself
        # drops the connection instead of reading on.
        self.request.connection.set_max_body_size(2 * self.limits.max_bytes)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._size += len(chunk)
        if self._size > self.limits.max_bytes:
            self._chunks.clear()
            self.refuse(too_large_body(self._size, self.limits))
            return
        self._chunks.append(chunk)

    def refuse(self, exc: TooLarge) -> None:
        self.send(413, verbs.error_json(exc))

    def body(self) -> dict[str, Any]:
        raw = b"".join(self._chunks)
        self._chunks = []
        return parse_body(raw, self.limits)

    def checked(self, verb: str) -> Request:
        """The request body of ``verb``, checked and with its paths confined."""
        fn = None if verb == "analyze" else getattr(api, verb)
        return read_request(verb, self.body(), self.root, self.limits, fn)

    def report_url(self, report: str) -> str:
        rel = Path(report).resolve().relative_to(self.run_root).as_posix()
        return url_path_join(self.base_url, NAMESPACE, "reports", quote(rel))

    def send(self, status: int, payload: Any) -> None:
        self.set_status(status)
        # Strict JSON: a NaN metric must not make the whole answer unreadable to the lab.
        self.finish(dumps(payload, default=str))

    def start_job(self, verb: str, work: Callable[[JobContext], Any], path: str | None) -> None:
        """Run ``work(ctx)`` as a background job and answer 202 with its id."""
        job = self.jobs.submit(verb, work, notebook=path, error_json=verbs.error_json)
        self.send(202, {"id": job.id, "status": job.status})

    async def guard(self, coro: Any) -> None:
        """Run a handler body, turning domain errors into JSON responses."""
        if self._finished:  # refused while the body arrived (413)
            coro.close()
            return
        try:
            await coro
        except Forbidden as exc:
            self.send(403, error_body("forbidden", f"path outside the server root: {exc}"))
        except NotFound as exc:
            self.send(404, error_body("not-found", str(exc)))
        except tornado.web.HTTPError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error
            status = verbs.http_status(exc)
            if status >= 500:
                self.log.exception("kale-like: %s failed", self.request.path)
            self.send(status, verbs.error_json(exc))

    async def in_thread(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Analysis and compilation are CPU work: keep the event loop responsive.
        return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))
