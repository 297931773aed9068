"""Glue between HTTP request bodies and ``kale_like.api``: argument checks, progress wiring
and JSON-able results. No tornado here, so it is testable on its own.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import api
from ..errors import EnvironmentProblem, KaleError, RunFailed, UsageError
from ..run_results import RunEvent
from ..sweep.trials import SweepEvent
from .jobs import JobCancelled, JobContext
from .validate import flat_options, pack_options


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON error shape of errors that carry no diagnostics of their own."""
    return {"error": kind, "message": message, "cell": None, "line": None, "diagnostics": []}


def error_json(exc: BaseException) -> dict[str, Any]:
    """The JSON body of every error the extension reports (HTTP errors and failed jobs)."""
    if isinstance(exc, KaleError):
        body = exc.to_json()
        body.setdefault("diagnostics", [])
        if isinstance(exc, RunFailed) and exc.step:
            body["step"] = exc.step
        return body
    if isinstance(exc, JobCancelled):
        return {"error": "cancelled", "message": "cancelled by the user", "diagnostics": []}
    return error_body("internal", f"{type(exc).__name__}: {exc}")


def http_status(exc: BaseException) -> int:
    """Domain errors to status codes: bad input 400 (413 when too large), environment 503,
    a failed run 409, anything else 500."""
    status = getattr(exc, "http_status", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, RunFailed):
        return 409
    if isinstance(exc, KaleError):
        return 503 if isinstance(exc, EnvironmentProblem) else (400 if exc.exit_code == 2 else 500)
    return 500


def to_jsonable(value: Any, root: Path | None = None) -> Any:
    """Results of the API as JSON: ``to_json()`` when offered, dataclasses, paths (relative
    to the server root when inside it)."""
    if hasattr(value, "to_json") and callable(value.to_json):
        return to_jsonable(value.to_json(), root)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name), root)
            for f in dataclasses.fields(value)
            if f.name != "pipeline"
        }
    if isinstance(value, Path):
        return _relative(value, root)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v, root) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def call_with_options(fn: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Call an API verb with user options, refusing unknown ones with the valid names
    (a typo in the UI must not become a silent no-op or a 500)."""
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [n for n in list(params)[len(args) :] if n not in ("progress", "cancel")]
        unknown = sorted(set(options) - set(valid) - {"progress", "cancel"})
        if unknown:
            raise UsageError(
                f"unknown option(s) {', '.join(unknown)} for {fn.__name__}",
                kind="unknown-option",
                fix=f"valid options: {', '.join(valid)}",
            )
    return fn(*args, **options)


def accepts(fn: Callable[..., Any], name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def analyze(notebook: Any, run_root: Path | None = None) -> dict[str, Any]:
    if run_root is None:
        return api.analyze(notebook)
    return api.analyze(notebook, run_root=run_root)


def compile_notebook(notebook: Any, output_dir: Path, root: Path, **options: Any) -> dict[str, Any]:
    result = call_with_options(api.compile, notebook, output_dir, **options)
    out = to_jsonable(result, root)
    if not isinstance(out, dict):
        out = {"result": out}
    for key in ("dsl", "yaml"):
        if isinstance(out.get(key), str):
            out[key] = _relative(Path(out[key]), root)
    out["output_dir"] = _relative(output_dir, root)
    return out


def progress_callback(ctx: JobContext) -> Callable[[Any], None]:
    """The job's progress callback: it takes the event of every verb (a build's log line, a
    sweep's :class:`SweepEvent`, a run's or deploy's :class:`RunEvent`), turns it into job
    state, and is the point where a cancel request lands."""

    def on_event(event: Any) -> None:
        if isinstance(event, str):
            ctx.log(event)
        elif isinstance(event, SweepEvent):
            _on_trial(ctx, event)
        elif isinstance(event, RunEvent):
            _on_step(ctx, event)
        ctx.check()

    return on_event


def _on_trial(ctx: JobContext, event: SweepEvent) -> None:
    """One row per trial."""
    if event.number is not None:
        trial = event.trial
        status = "running" if trial is None else str(trial.status)
        seconds = 0.0 if trial is None else float(trial.seconds)
        ctx.step(f"trial {event.number}", status, seconds, _trial_message(event))


def _on_step(ctx: JobContext, event: RunEvent) -> None:
    """A step's state; a run-level event names the run (and the planned steps)."""
    if event.run_id:
        ctx.set_run_id(event.run_id)
    if event.step is not None:
        ctx.step(event.step, event.status, float(event.seconds or 0.0), event.message)
    elif event.status == "planned" and event.message:
        ctx.set_steps(str(event.message).split(","))


def _trial_message(event: SweepEvent) -> str | None:
    params = ", ".join(f"{k}={v!r}" for k, v in (event.parameters or {}).items())
    trial = event.trial
    if trial is not None and trial.objective is not None:
        return f"{params} -> {trial.objective}"
    return params or None


@dataclasses.dataclass(frozen=True)
class Target:
    """What a job acts on: a saved notebook (absolute path) or the unsaved JSON of one,
    with the saved file's path when known (its folder is where the steps run)."""

    notebook: dict[str, Any] | str
    saved: Path | None = None


# Verbs that take a path or a Pipeline, not notebook JSON: the JSON is analysed for them.
_NEEDS_PIPELINE = ("run", "build", "sweep")


def resolve(target: Any, verb: str, run_root: Path | None = None) -> Any:
    """The notebook argument of ``verb`` for ``target`` (a :class:`Target` or as is)."""
    if not isinstance(target, Target):
        return target
    if isinstance(target.notebook, dict) and verb in _NEEDS_PIPELINE:
        from ..api.analysis import load_pipeline

        path = str(target.saved) if target.saved is not None else None
        return load_pipeline(target.notebook, path=path, run_root=run_root)
    return target.notebook


def pipeline_steps(notebook: Any) -> list[str]:
    """Step names, shown as pending before the first event arrives."""
    steps = getattr(notebook, "steps", None)
    if steps is not None:  # already a Pipeline
        return [s.name for s in steps]
    try:
        return [s["name"] for s in api.analyze(notebook)["steps"]]
    except Exception:  # noqa: BLE001 - the verb itself will report the problem
        return []


def run_job(
    ctx: JobContext,
    notebook: Any,
    root: Path,
    run_root: Path,
    report_url: Callable[[str], str],
    **options: Any,
) -> dict[str, Any]:
    """Run the notebook with the local engine; the result carries report links."""
    notebook = resolve(notebook, "run", run_root)
    ctx.set_steps(pipeline_steps(notebook))
    kwargs: dict[str, Any] = dict(options)
    kwargs["progress"] = progress_callback(ctx)
    run = api.run
    if accepts(run, "run_root"):
        kwargs.setdefault("run_root", run_root)
    if accepts(run, "cancel"):
        kwargs["cancel"] = ctx.cancel_event
    result = call_with_options(run, notebook, **kwargs)
    ctx.set_run_id(result.run_id)
    for name, step in result.steps.items():
        ctx.step(name, step.status, step.seconds, step.error)
    body = to_jsonable(result, root)
    body["run_dir"] = _relative(Path(result.run_dir), root) if result.run_dir else None
    for name, step in result.steps.items():
        if step.report:
            body["steps"][name]["report_url"] = report_url(step.report)
        if step.error:
            body["steps"][name]["error"] = step.error
            body["steps"][name]["cell"] = step.cell
    return body


def generic_job(
    ctx: JobContext,
    verb: str,
    notebook: Any,
    root: Path,
    run_root: Path,
    hints: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """build / deploy / sweep: call the verb with progress when it takes it."""
    notebook = resolve(notebook, verb, run_root)
    fn = getattr(api, verb)
    kwargs = dict(options)
    # Panel settings (registry, KFP host, experiment...) go only to verbs that take them.
    takes = flat_options(fn)
    kwargs.update({k: v for k, v in (hints or {}).items() if k in takes and k not in kwargs})
    # Requests set option groups (a sweep's budget, the KFP target...) field by field.
    kwargs = pack_options(fn, kwargs)
    if accepts(fn, "run_root"):
        kwargs.setdefault("run_root", run_root)
    if accepts(fn, "progress"):
        kwargs["progress"] = progress_callback(ctx)
    if accepts(fn, "cancel"):
        kwargs["cancel"] = ctx.cancel_event
    return to_jsonable(call_with_options(fn, notebook, **kwargs), root)
