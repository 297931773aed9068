"""The ``build`` verb: one image per distinct step environment, content-addressed.

``build(nb)`` infers each step's pinned requirements, builds what the Docker engine and the
registry do not already hold (docker-py, no network inside the build), and optionally
pushes. ``dry_run=True`` needs no engine: it writes each image's Dockerfile and
requirements.txt plus ``images.json`` to ``output_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import UsageError
from ..model import Pipeline

__all__ = ["BuildResult", "build"]


@dataclass
class BuildResult:
    """``images`` maps every step to its image reference; ``built``/``skipped`` list refs."""

    images: dict[str, str]
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # ref -> registry manifest digest
    diagnostics: list[Diagnostic] = field(default_factory=list)
    dry_run_dir: str | None = None
    plans: list[Any] = field(default_factory=list)  # backends.images.context.ImagePlan
    logs: dict[str, Any] = field(default_factory=dict)  # ref -> builder.BuildLog
    pipeline: Pipeline | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "built": self.built,
            "skipped": self.skipped,
            "pushed": self.pushed,
            "digests": self.digests,
            "dry_run_dir": self.dry_run_dir,
            "environments": [
                {
                    "ref": p.ref,
                    "steps": list(p.steps),
                    "base": p.base,
                    "requirements": list(p.requirements),
                    "local_files": list(p.local_files),
                }
                for p in self.plans
            ],
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def _pipeline(notebook: str | os.PathLike[str] | Pipeline) -> Pipeline:
    from .execution import prepare

    return prepare(notebook)


def build(
    notebook: str | os.PathLike[str] | Pipeline,
    *,
    registry: str | None = None,
    push: bool = False,
    base_image: str | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    extend_images: bool = False,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
    need_local: bool = True,
) -> BuildResult:
    """Build (and push) the images of a notebook's steps; see the module docstring.

    Raises InputError (exit 2) for a module no distribution provides, EnvironmentProblem
    (exit 3) when no Docker engine answers, the registry is unreachable or a build fails.
    """
    from .. import images

    if dry_run and output_dir is None:
        raise UsageError(
            "--dry-run needs -o DIR",
            kind="usage",
            tag="--dry-run",
            fix="kale-like build NB --dry-run -o build/",
        )
    if push and not registry:
        raise UsageError(
            "--push needs --registry",
            kind="usage",
            tag="--push",
            fix="kale-like build NB --registry 127.0.0.1:5000/team --push",
        )
    pipeline = _pipeline(notebook)
    nb_dir = Path(pipeline.notebook_path).resolve().parent if pipeline.notebook_path else None
    if nb_dir is None and not isinstance(notebook, Pipeline):
        nb_dir = Path(notebook).resolve().parent
    plan = images.plan_pipeline(
        pipeline,
        registry=registry,
        base_image=base_image,
        extend_images=extend_images,
        notebook_dir=nb_dir,
    )
    result = BuildResult(
        images=dict(plan.images),
        diagnostics=list(plan.diagnostics),
        plans=list(plan.plans),
        pipeline=pipeline,
    )
    if dry_run:
        assert output_dir is not None
        images.write_dry_run_plans(plan, Path(output_dir))
        result.dry_run_dir = str(output_dir)
        return result
    outcome = images.build_plans(
        plan,
        client=client,
        push=push,
        wheelhouse=Path(wheelhouse) if wheelhouse else None,
        need_local=need_local,
        progress=progress,
    )
    if output_dir is not None:  # images.json for `kale-like deploy --images`, Dockerfiles
        images.write_dry_run_plans(plan, Path(output_dir))
    result.built, result.skipped = outcome.built, outcome.skipped
    result.pushed, result.digests, result.logs = outcome.pushed, outcome.digests, outcome.logs
    return result
