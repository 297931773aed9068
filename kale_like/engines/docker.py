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
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError, missing_extra
from ..kubeflow.compile import compile_pipeline
from ..run_results import RunResult
from .kfp_local_common import (
    call_pipeline,
    finish,
    import_pipeline,
    refuse_partial,
    start_run,
    task_seconds,
)
from .registry import RunRequest

__all__ = ["DockerEngine", "run", "task_seconds"]

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
        refuse_partial(request)
        try:
            import docker  # noqa: F401
            import kfp.local
        except ImportError as exc:
            raise missing_extra("docker", "docker", "the docker engine") from exc
        from .. import images
        from ..codegen import kfp_arguments  # sanitized names, JSON for None defaults

        opts = {**self.options, **{k: v for k, v in request.options.items() if k in OPTION_NAMES}}
        pipeline = request.pipeline
        run = start_run(request, self.name)
        nb_path = run.nb_path

        # 1. images: built once, reused by content digest afterwards
        try:
            plan = images.plan_pipeline(
                pipeline,
                base_image=opts.get("base_image"),
                registry=opts.get("registry"),
                extend_images=bool(opts.get("extend_images")),
                notebook_dir=nb_path.parent if nb_path else None,
            )
            with open(run.run_dir / "build.log", "a", encoding="utf-8") as log:
                built = images.build_plans(
                    plan,
                    client=opts.get("client"),
                    wheelhouse=opts.get("wheelhouse"),
                    need_local=True,
                    progress=lambda line: print(line, file=log),
                )
        except BaseException:
            # No step ran: leave no run folder without a run.json behind (the error says why).
            shutil.rmtree(run.run_dir, ignore_errors=True)
            raise
        build_seconds = time.time() - run.started

        # 2. compile with the images, 3. run each task in its container
        user = opts.get("user") or os.environ.get("KALE_LIKE_DOCKER_USER")
        if not user and hasattr(os, "getuid"):
            user = f"{os.getuid()}:{os.getgid()}"
        run_args: dict[str, Any] = {"network_mode": "none"}
        if user:
            run_args["user"] = str(user)
        with tempfile.TemporaryDirectory(prefix="kale-like-docker-") as tmp:
            dsl_path, _ = compile_pipeline(pipeline, Path(tmp), images=built.images)
            func = import_pipeline(dsl_path)
            kwargs = kfp_arguments(pipeline, dict(request.parameters))
            error = call_pipeline(run, func, kwargs, kfp.local.DockerRunner(**run_args))
        return finish(
            run,
            error,
            failure="the step failed in its container",
            record={
                "images": built.images,
                "images_built": built.built,
                "build_seconds": round(build_seconds, 3),
            },
            step_record=lambda step: {"image": built.images.get(step)},
        )


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
