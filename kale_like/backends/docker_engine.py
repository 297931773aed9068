"""The ``docker`` engine: every step in its own image, run by KFP's ``DockerRunner``.

Images are built (or reused by digest) first, the pipeline is compiled with them, and KFP's
local orchestrator runs each task in a container with ``network_mode="none"``: nothing is
installed or downloaded when a step starts. The container runs as the caller's uid:gid
(``user=`` option, ``$KALE_LIKE_DOCKER_USER``) because KFP bind-mounts the pipeline root
at the same path and the task writes its outputs there; the image's own non-root ``USER``
applies on a cluster. Metrics and failures are read as in the ``kfp-local`` engine.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..engines import RunRequest
from ..errors import UsageError, missing_extra
from ..results import RunEvent, RunResult, StepResult

__all__ = ["DockerEngine", "run"]

OPTION_NAMES = ("base_image", "wheelhouse", "registry", "user", "extend_images", "client")


class DockerEngine:
    """Build step images, then run the compiled pipeline with ``kfp.local.DockerRunner``."""

    name = "docker"

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(OPTION_NAMES)
        if unknown:
            raise UsageError(f"unknown docker engine option(s): {', '.join(sorted(unknown))}")
        self.options = options

    def run(self, request: RunRequest) -> RunResult:
        if request.from_step or request.only:
            raise UsageError(
                "--from and --only need the local engine (kfp.local runs whole pipelines)",
                kind="unsupported-option",
                fix="drop --from/--only, or use --engine local",
            )
        try:
            import docker  # noqa: F401
            import kfp.local  # noqa: F401
        except ImportError as exc:
            raise missing_extra("docker", "docker", "the docker engine") from exc
        from ..api.compile import compile as compile_pipeline
        from ..codegen.names import allocate_names
        from . import images
        from .kfp_local import _import_dsl, _importable, _redirected, _tail, _task_outputs, _values
        from .local import collect_metrics, records

        opts = {**self.options, **{k: v for k, v in request.options.items() if k in OPTION_NAMES}}
        pipeline = request.pipeline
        nb_path = request.notebook_path or (
            Path(pipeline.notebook_path) if pipeline.notebook_path else None
        )
        root = records.ensure_writable(request.run_root or records.default_run_root(nb_path))
        run_id = records.new_run_id()
        run_dir = root / "runs" / run_id
        run_dir.mkdir(parents=True)
        emit = request.progress or (lambda event: None)
        emit(RunEvent(run_id, None, "running"))
        started = time.time()

        # 1. images: built once, reused by content digest afterwards
        plan = images.plan_pipeline(
            pipeline,
            base_image=opts.get("base_image"),
            registry=opts.get("registry"),
            extend_images=bool(opts.get("extend_images")),
            notebook_dir=nb_path.parent if nb_path else None,
        )
        with open(run_dir / "build.log", "a", encoding="utf-8") as log:
            built = images.build_plans(
                plan,
                client=opts.get("client"),
                wheelhouse=opts.get("wheelhouse"),
                need_local=True,
                progress=lambda line: print(line, file=log),
            )
        build_seconds = time.time() - started

        # 2. compile with the images, 3. run each task in its container
        names = allocate_names(pipeline)
        result = RunResult(
            run_id=run_id,
            status="running",
            parameters=dict(request.parameters),
            run_dir=str(run_dir),
            engine=self.name,
            steps={s.name: StepResult(s.name) for s in pipeline.steps},
        )
        user = opts.get("user") or os.environ.get("KALE_LIKE_DOCKER_USER")
        if not user and hasattr(os, "getuid"):
            user = f"{os.getuid()}:{os.getgid()}"
        pipeline_root = run_dir / "kfp"
        error: str | None = None
        with tempfile.TemporaryDirectory(prefix="kale-like-docker-") as tmp:
            compiled = compile_pipeline(pipeline, tmp, images=built.images)
            module = _import_dsl(Path(compiled.dsl_path))
            from ..codegen import kfp_arguments  # sanitized names, JSON for None defaults

            kwargs = kfp_arguments(pipeline, dict(request.parameters))
            with _redirected(run_dir / "kfp.log"), _importable():
                import kfp.local

                run_args: dict[str, Any] = {"network_mode": "none"}
                if user:
                    run_args["user"] = str(user)
                kfp.local.init(
                    runner=kfp.local.DockerRunner(**run_args),
                    pipeline_root=str(pipeline_root),
                    raise_on_error=False,
                )
                try:
                    module.pipeline(**kwargs)
                except Exception as exc:  # KFP reports a failed task as an exception
                    error = f"{type(exc).__name__}: {exc}"
        seconds = time.time() - started
        # A task succeeded iff it wrote its executor output: KFP's DockerRunner reports a
        # container that exited (and was auto-removed) before `wait` as SUCCESS.
        per_step = _task_outputs(pipeline, names.kfp_tasks, pipeline_root)
        failed_seen = False
        for step in pipeline.steps:
            res = result.steps[step.name]
            if step.name in per_step:
                res.status = "succeeded"
            elif not failed_seen and all(p in per_step for p in step.after):
                res.status, failed_seen = "failed", True
                log_text = _tail(run_dir / "kfp.log", 20000)
                res.error = error or "the step failed in its container"
                res.traceback = log_text[-4000:]
                from .kfp_local import _STEP_FAILED

                found = _STEP_FAILED.findall(log_text)
                if found:
                    res.cell, res.error = int(found[-1][0]), found[-1][1].strip()
            else:
                res.status = "skipped"
            emit(RunEvent(run_id, step.name, res.status, 0.0, res.error))
        timings = task_seconds(_tail(run_dir / "kfp.log", 2_000_000))
        for step in pipeline.steps:
            result.steps[step.name].seconds = timings.get(names.kfp_tasks[step.name], 0.0)
        metrics = {name: out["metrics"] for name, out in per_step.items()}
        result.metrics = collect_metrics(pipeline, metrics)
        if request.keep_values:
            result.values = _values(pipeline, names.variables, per_step)
        failed = any(s.status == "failed" for s in result.steps.values()) or error is not None
        result.status = "failed" if failed else "succeeded"
        if failed and result.failed_step is None:
            first = next(iter(result.steps.values()))
            first.status, first.error = "failed", error
        records.write_json_atomic(
            run_dir / records.RUN_RECORD,
            {
                "run_id": run_id,
                "status": result.status,
                "engine": self.name,
                "pipeline": pipeline.name,
                "notebook": {
                    "path": str(nb_path) if nb_path else None,
                    "sha256": pipeline.notebook_digest,
                },
                "parameters": result.parameters,
                "metrics": result.metrics,
                "images": built.images,
                "images_built": built.built,
                "build_seconds": round(build_seconds, 3),
                "run_dir": str(run_dir),
                "started": started,
                "finished": time.time(),
                "seconds": round(seconds, 3),
                "steps": {
                    name: {
                        **res.to_json(),
                        "image": built.images.get(name),
                        "task_dir": per_step.get(name, {}).get("dir"),
                        "metrics": metrics.get(name, {}),
                    }
                    for name, res in result.steps.items()
                },
            },
        )
        emit(RunEvent(run_id, None, result.status, seconds))
        return result


_LOG_LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?) - \w+ - (?:Executing task|Task) (?:\x1b\[\d+m)?'(.+?)'"
    r"(?:\x1b\[0m)?( finished)?"
)


def task_seconds(log: str) -> dict[str, float]:
    """KFP task name -> seconds from "Executing task" to "finished" in kfp.local's log."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for line in log.splitlines():
        m = _LOG_LINE.match(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        name = m.group(4)
        if m.group(5) and name in started:
            out[name] = round((t - started[name]) % 86400, 3)
        elif not m.group(5) and line.find("Executing task") != -1:
            started[name] = t
    return out


def run(
    pipeline: Any,
    parameters: Mapping[str, Any] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> RunResult:
    """Run an analysed pipeline on the docker engine (``run_dir`` is the run root)."""
    from .. import params

    values = params.resolve(pipeline, dict(parameters or {}))
    nb = Path(pipeline.notebook_path) if pipeline.notebook_path else None
    request = RunRequest(
        pipeline=pipeline,
        parameters=values,
        notebook_path=nb,
        run_root=Path(run_dir).absolute() if run_dir is not None else None,
    )
    return DockerEngine(**options).run(request)
