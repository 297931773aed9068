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

import mimetypes
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.utils import url_path_join

from ..api.history import default_run_root
from ..errors import UsageError
from . import reports, verbs
from .base import NAMESPACE, KaleHandler
from .experiments import ExperimentsHandler
from .jobs import JobManager
from .suggest import SuggestHandler
from .validate import (
    Forbidden,
    Limits,
    NotFound,
    confine,
)
from .verbs import error_body

# Reports hold user output: shown, never scripted, never able to reach the lab's origin.
REPORT_CSP = (
    "sandbox; default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; "
    "font-src data:; frame-ancestors 'self'"
)

__all__ = ["Forbidden", "NotFound", "confine", "setup_handlers"]


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
