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
import json
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import UsageError
from . import verbs
from .jobs import JobContext, JobManager
from .verbs import error_body

NAMESPACE = "kale-like"


# Options a request may not set: injected clients and callbacks, and the run root, which the
# server chooses (its reports are served from there).
SERVER_ONLY_OPTIONS = ("client", "k8s_client", "run_fn", "progress", "cancel", "run_root")
# Path-valued options: confined to the server root like notebook paths (and resolved there).
PATH_OPTIONS = ("output_dir", "wheelhouse", "token_file", "config_path")


class Forbidden(Exception):
    """A path outside the server root (or the run root)."""


class NotFound(Exception):
    """A notebook or job that does not exist (answered as JSON like every other error)."""


def confine(root: Path, rel: Any, *, must_exist: bool = True) -> Path:
    """Resolve ``rel`` inside ``root``; absolute paths, ``..`` and symlink escapes -> Forbidden."""
    if not isinstance(rel, str) or not rel.strip():
        raise UsageError(
            "a notebook 'path' relative to the server root is required", kind="no-path"
        )
    if rel.startswith(("/", "\\")) or os.path.isabs(rel) or (len(rel) > 1 and rel[1] == ":"):
        raise Forbidden(rel)
    if ".." in Path(rel).parts:
        raise Forbidden(rel)
    full = (root / rel).resolve()
    if not full.is_relative_to(root):
        raise Forbidden(rel)
    if must_exist and not full.exists():
        raise NotFound(f"no such file: {rel}")
    return full


class KaleHandler(APIHandler):
    """Shared plumbing: JSON bodies, root confinement and error mapping."""

    @property
    def root(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    @property
    def jobs(self) -> JobManager:
        return self.settings["kale_like_jobs"]

    @property
    def run_root(self) -> Path:
        return Path(self.settings["kale_like_run_root"]).resolve()

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as exc:
            raise UsageError(f"the request body is not JSON: {exc}", kind="bad-json") from exc
        if not isinstance(data, dict):
            raise UsageError("the request body must be a JSON object", kind="bad-json")
        return data

    def notebook_arg(self, data: dict[str, Any]) -> tuple[Any, str | None]:
        """The notebook to act on: unsaved JSON content wins over a saved path."""
        if isinstance(data.get("notebook"), dict):
            return data["notebook"], data.get("path")
        if "notebook" in data:
            raise UsageError("'notebook' must be a notebook JSON object", kind="bad-notebook")
        path = data.get("path")
        return str(confine(self.root, path)), path

    def verb_options(self, data: dict[str, Any], key: str = "options") -> dict[str, Any]:
        opts = data.get(key) or {}
        if not isinstance(opts, dict):
            raise UsageError(f"'{key}' must be an object", kind="bad-options")
        opts = dict(opts)
        refused = sorted(set(opts) & set(SERVER_ONLY_OPTIONS))
        if refused:
            raise UsageError(
                f"option(s) {', '.join(refused)} cannot be set in a request",
                kind="unknown-option",
            )
        for name in PATH_OPTIONS:
            if opts.get(name) not in (None, ""):
                opts[name] = str(confine(self.root, opts[name], must_exist=False))
        return opts

    def report_url(self, report: str) -> str:
        rel = Path(report).resolve().relative_to(self.run_root).as_posix()
        return url_path_join(self.base_url, NAMESPACE, "reports", quote(rel))

    def send(self, status: int, payload: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, default=str))

    def start_job(self, verb: str, work: Callable[[JobContext], Any], path: str | None) -> None:
        """Run ``work(ctx)`` as a background job and answer 202 with its id."""
        job = self.jobs.submit(verb, work, notebook=path, error_json=verbs.error_json)
        self.send(202, {"id": job.id, "status": job.status})

    async def guard(self, coro: Any) -> None:
        """Run a handler body, turning domain errors into JSON responses."""
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
            notebook, _ = self.notebook_arg(self.body())
            # Observed facts of the server's local runs live under its run root.
            self.send(200, await self.in_thread(verbs.analyze, notebook, self.run_root))

        await self.guard(work())


class CompileHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            data = self.body()
            notebook, path = self.notebook_arg(data)
            if data.get("output_dir"):
                out = confine(self.root, data["output_dir"], must_exist=False)
            elif path:
                nb = confine(self.root, path, must_exist=False)
                out = nb.parent / f"{nb.stem}_pipeline"
            else:
                raise UsageError("compile needs 'output_dir' or a notebook 'path'", kind="no-path")
            options = self.verb_options(data)
            if data.get("observe") is not None:  # also accepted beside the options
                options["observe"] = data["observe"]
            if not isinstance(options.get("observe", False), bool):
                raise UsageError("'observe' must be true or false", kind="bad-options")
            options["run_root"] = self.run_root  # facts and the --observe run: the server's
            result = await self.in_thread(
                verbs.compile_notebook, notebook, out, self.root, **options
            )
            self.send(200, result)

        await self.guard(work())


class RunHandler(KaleHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            data = self.body()
            notebook, path = self.notebook_arg(data)
            options = self.verb_options(data)
            if data.get("parameters"):
                if not isinstance(data["parameters"], dict):
                    raise UsageError("'parameters' must be an object", kind="bad-parameters")
                options["parameters"] = data["parameters"]
            root, run_root, report_url = self.root, self.run_root, self.report_url
            self.start_job(
                "run",
                lambda ctx: verbs.run_job(ctx, notebook, root, run_root, report_url, **options),
                path,
            )

        await self.guard(work())


class VerbJobHandler(KaleHandler):
    """build / deploy / sweep as background jobs."""

    verb = ""

    @tornado.web.authenticated
    async def post(self) -> None:
        async def work() -> None:
            data = self.body()
            notebook, path = self.notebook_arg(data)
            options, root, run_root, verb = (
                self.verb_options(data),
                self.root,
                self.run_root,
                self.verb,
            )
            hints = self.verb_options(data, "hints") if isinstance(data.get("hints"), dict) else {}
            if verb == "deploy" and data.get("observe") is not None:
                if not isinstance(data["observe"], bool):
                    raise UsageError("'observe' must be true or false", kind="bad-options")
                options["observe"] = data["observe"]
            self.start_job(
                verb,
                lambda ctx: verbs.generic_job(
                    ctx, verb, notebook, root, run_root, hints, **options
                ),
                path,
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
    """Step HTML reports, only from inside the run root."""

    @tornado.web.authenticated
    async def get(self, rel: str) -> None:
        try:
            full = confine(self.run_root, rel)
        except Forbidden:
            raise tornado.web.HTTPError(403, "report path outside the run root") from None
        except NotFound:
            raise tornado.web.HTTPError(404) from None
        if not full.is_file():
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", mimetypes.guess_type(full.name)[0] or "text/plain")
        # Reports contain user output: never let them script the lab origin.
        self.set_header("Content-Security-Policy", "sandbox allow-scripts")
        self.finish(full.read_bytes())


def setup_handlers(web_app: Any, run_root: Path | None = None) -> JobManager:
    """Register the handlers on the server's tornado application."""
    root = Path(web_app.settings["server_root_dir"]).expanduser().resolve()
    jobs = JobManager()
    web_app.settings["kale_like_jobs"] = jobs
    web_app.settings["kale_like_run_root"] = str(run_root or root / ".kale_like" / "runs")
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    routes: list[tuple[str, type[KaleHandler]]] = [
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
