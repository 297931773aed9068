"""Thin authenticated REST handlers under ``/kale-like/``: parse the body, confine paths to
the server root, call ``kale_like.api`` (through ``verbs``), map domain errors to JSON.

    POST analyze            {"path"} | {"notebook"}  -> the `kale-like analyze --format json` dict
    POST compile            {"path", "output_dir"?, "observe"?, "options"?} (observe: run
                            locally first when no run observed the current code)
    POST run                {"path" | "notebook", "parameters"?, "options"?} -> {"id"} (background)
    GET  runs               jobs of this server
    GET  runs/ID            status: per-step states, elapsed, report links, metrics
    POST runs/ID/cancel
    POST build|deploy|sweep {"path", "options"?, "hints"?}  -> {"id"} (background; hints are
                            panel settings passed only to verbs that take them; deploy takes
                            "observe" beside or in the options)
    GET  reports/REL        a step HTML report, confined to the run root
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import api
from ..api.runs import default_run_root
from ..errors import UsageError
from ..jsonsafe import dumps
from . import reports, verbs
from .jobs import JobContext, JobManager
from .validate import (
    Forbidden,
    Limits,
    NotFound,
    Request,
    TooLarge,
    confine,
    parse_body,
    read_request,
    too_large_body,
)
from .verbs import error_body

NAMESPACE = "kale-like"

# Reports hold user output: shown, never scripted, never able to reach the lab's origin.
REPORT_CSP = (
    "sandbox; default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
    "font-src data:; frame-ancestors 'self'"
)

__all__ = ["Forbidden", "NotFound", "confine", "setup_handlers"]


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
        fn = None if verb == "analyze" else api.verb(verb)
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


class AnalyzeHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            req = self.checked("analyze")
            # Observed facts of the server's local runs live under its run root.
            self.send(200, await self.in_thread(verbs.analyze, req.notebook, self.run_root))

        await self.guard(work())


class CompileHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            req = self.checked("compile")
            if req.output_dir is not None:
                out = req.output_dir
            elif req.saved is not None:
                out = req.saved.parent / f"{req.saved.stem}_pipeline"
            else:
                raise UsageError("compile needs 'output_dir' or a notebook 'path'", kind="no-path")
            options = dict(req.options)
            if req.observe is not None:  # also accepted beside the options
                options["observe"] = req.observe
            options["run_root"] = self.run_root  # facts and the --observe run: the server's
            result = await self.in_thread(
                verbs.compile_notebook, req.notebook, out, self.root, **options
            )
            self.send(200, result)

        await self.guard(work())


class RunHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            req = self.checked("run")
            options = dict(req.options)
            if req.parameters:
                options["parameters"] = req.parameters
            root, run_root, report_url = self.root, self.run_root, self.report_url
            notebook = verbs.Target(req.notebook, req.saved)
            self.start_job(
                "run",
                lambda ctx: verbs.run_job(ctx, notebook, root, run_root, report_url, **options),
                req.path,
            )

        await self.guard(work())


class VerbJobHandler(KaleHandler):
    """build / deploy / sweep as background jobs."""

    verb = ""

    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            verb = self.verb
            req = self.checked(verb)
            options, hints, root, run_root = dict(req.options), req.hints, self.root, self.run_root
            if verb == "deploy" and req.observe is not None:
                options["observe"] = req.observe
            notebook = verbs.Target(req.notebook, req.saved)
            self.start_job(
                verb,
                lambda ctx: verbs.generic_job(
                    ctx, verb, notebook, root, run_root, hints, **options
                ),
                req.path,
            )

        await self.guard(work())


class BuildHandler(VerbJobHandler):
    verb = "build"


class DeployHandler(VerbJobHandler):
    verb = "deploy"


class SweepHandler(VerbJobHandler):
    verb = "sweep"


class RunsHandler(KaleHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.send(200, {"jobs": self.jobs.list()})


class RunStatusHandler(KaleHandler):
    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        snap = self.jobs.snapshot(job_id)
        if snap is None:
            self.send(404, error_body("not-found", f"no such job: {job_id}"))
            return
        self.send(200, snap)


class RunCancelHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self, job_id: str) -> None:
        if self.jobs.cancel(job_id) is None:
            self.send(404, error_body("not-found", f"no such job: {job_id}"))
            return
        self.send(202, self.jobs.snapshot(job_id))


class ReportHandler(KaleHandler):
    """Step reports (HTML, rendered like the notebook on first view), only from inside the
    run root, as ``text/html`` under a sandboxing Content-Security-Policy."""

    @property
    def content_security_policy(self) -> str:
        return REPORT_CSP

    @tornado.web.authenticated
    async def get(self, rel: str) -> None:
        try:
            full = confine(self.run_root, rel)
        except Forbidden:
            raise tornado.web.HTTPError(403, "report path outside the run root") from None
        except (NotFound, UsageError):
            raise tornado.web.HTTPError(404) from None
        if not full.is_file():
            raise tornado.web.HTTPError(404)
        # Rendering costs ~1 s: done here, on first view, never on the run's critical path.
        served = await self.in_thread(reports.rendered, full)
        kind = mimetypes.guess_type(served.name)[0] or "text/plain"
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        self.set_header("Content-Security-Policy", REPORT_CSP)
        # APIHandler.finish would label any answer application/json: say what it is.
        self.finish(served.read_bytes(), set_content_type=kind)


def setup_handlers(web_app: Any, run_root: Path | None = None) -> JobManager:
    """Register the handlers on the server's tornado application."""
    root = Path(web_app.settings["server_root_dir"]).expanduser().resolve()
    jobs = JobManager()
    web_app.settings["kale_like_jobs"] = jobs
    web_app.settings["kale_like_limits"] = Limits.from_settings(web_app.settings)
    # The CLI's run root (``$KALE_LIKE_RUN_ROOT``, else ``.kale_like`` in the folder it runs
    # from): runs started here show in `kale-like runs list` and share the CLI's cache.
    web_app.settings["kale_like_run_root"] = str(run_root or default_run_root(root))
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    from .experiments import ExperimentsHandler  # its own module (issue 13); imports this one
    from .suggest import SuggestHandler  # its own module (issue 15); imports this one

    routes: list[tuple[str, type[KaleHandler]]] = [
        ("suggest", SuggestHandler),
        ("kfp/experiments", ExperimentsHandler),
        ("analyze", AnalyzeHandler),
        ("compile", CompileHandler),
        ("run", RunHandler),
        ("build", BuildHandler),
        ("deploy", DeployHandler),
        ("sweep", SweepHandler),
        ("runs", RunsHandler),
        (r"runs/([0-9a-f]+)", RunStatusHandler),
        (r"runs/([0-9a-f]+)/cancel", RunCancelHandler),
        (r"reports/(.+)", ReportHandler),
    ]
    web_app.add_handlers(".*$", [(url_path_join(base, pat), cls) for pat, cls in routes])
    return jobs
