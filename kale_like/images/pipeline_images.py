"""A pipeline's images: plan them (pure), then build, push and report.

``plan_pipeline`` turns the IR into image plans (no engine, no network);
``write_dry_run_plans`` writes their Dockerfiles; ``build_plans`` builds what the engine and
registry do not already hold, pushes, and reports.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codegen.dsl import default_base_image
from ..diagnostics import Diagnostic
from ..errors import EnvironmentProblem, InputError, UsageError
from ..fsutil import file_digest
from ..model import Pipeline, Step
from . import builder
from .context import (
    ContextInputs,
    ImagePlan,
    StepEnv,
    files_digest,
    plan_images,
    slug,
    source_files,
    validate_image_ref,
    validate_registry,
    write_context,
    write_dry_run,
)
from .environment import PythonEnvironment
from .requirements import infer_requirements, runtime_requirements
from .wheelhouse import default_wheelhouse, ensure_wheels

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the kale_like package
Progress = Callable[[str], None]


@dataclass
class PipelinePlan:
    """Which image each step runs in, and the images to build."""

    pipeline: Pipeline
    images: dict[str, str]  # step -> image reference
    plans: list[ImagePlan]
    as_is: dict[str, str]  # steps whose `image:` tag is used unchanged
    diagnostics: list[Diagnostic]
    notebook_dir: Path | None
    registry: str | None


@dataclass
class BuildOutcome:
    images: dict[str, str]
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # ref -> registry manifest digest
    logs: dict[str, builder.BuildLog] = field(default_factory=dict)


def resolve_base(pipeline: Pipeline, base_image: str | None, env: PythonEnvironment) -> str:
    """--base-image, notebook metadata, $KALE_LIKE_BASE_IMAGE, then python:X.Y-slim."""
    chosen = base_image or pipeline.base_image or os.environ.get("KALE_LIKE_BASE_IMAGE")
    if chosen:
        return validate_image_ref(chosen, what="base image")
    version = ".".join((pipeline.python_version or env.python).split(".")[:2])
    return default_base_image(version)


def plan_pipeline(
    pipeline: Pipeline,
    *,
    registry: str | None = None,
    base_image: str | None = None,
    extend_images: bool = False,
    env: PythonEnvironment | None = None,
    notebook_dir: Path | None = None,
    user: str | None = "1000",
) -> PipelinePlan:
    """Plan the images of every step. Unknown modules raise InputError (exit 2)."""
    env = env or PythonEnvironment.current()
    if notebook_dir is None and pipeline.notebook_path:
        notebook_dir = Path(pipeline.notebook_path).resolve().parent
    reg = validate_registry(registry) if registry else None
    reqs, diags = infer_requirements(pipeline, notebook_dir=notebook_dir, env=env)
    unknown = [(s, m) for s, r in reqs.items() for m in r.unknown]
    if unknown:
        first_step, module = unknown[0]
        listed = ", ".join(f"{m!r} (step {s!r})" for s, m in unknown)
        raise InputError(
            f"no distribution provides {listed}: the image of step {first_step!r} cannot "
            f"include module {module!r}",
            kind="unknown-module",
            fix="install it in the notebook's environment, or add its distribution to notebook "
            "metadata `kubeflow_notebook.requirements` or to requirements.txt beside the notebook",
            diagnostics=[d for d in diags if d.kind == "unknown-module"],
        )
    base = resolve_base(pipeline, base_image, env)
    as_is: dict[str, str] = {}
    envs: list[StepEnv] = []
    for step in pipeline.steps:
        own = step.settings.image
        if own and not extend_images:
            as_is[step.name] = validate_image_ref(own, what=f"image of step {step.name!r}")
            continue
        r = reqs[step.name]
        step_base = validate_image_ref(own, what=f"image of step {step.name!r}") if own else base
        files = tuple(sorted({*r.local_files, *input_files(step, notebook_dir)}))
        envs.append(StepEnv(step.name, step_base, r.requirements, files))
    repository = f"{reg}/{slug(pipeline.name)}" if reg else f"kale-like/{slug(pipeline.name)}"
    digests = {
        f: file_digest(notebook_dir / f)
        for e in envs
        for f in e.local_files
        if notebook_dir is not None
    }
    plans = plan_images(
        envs,
        runtime=runtime_requirements(env),
        env=env,
        repository=repository,
        source_digest=files_digest(source_files(PACKAGE_DIR), PACKAGE_DIR),
        file_digests=digests,
        user=user,
        labels={
            "org.opencontainers.image.title": pipeline.name,
            "org.opencontainers.image.vendor": "kale-like",
        },
    )
    images = dict(as_is)
    for plan in plans:
        for s in plan.steps:
            images[s] = plan.ref
    images = {s.name: images[s.name] for s in pipeline.steps}
    return PipelinePlan(pipeline, images, plans, as_is, diags, notebook_dir, reg)


def write_dry_run_plans(plan: PipelinePlan, output_dir: Path) -> Path:
    """One folder per image (Dockerfile, requirements.txt) + images.json, written atomically."""
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".kale-like-build-", dir=output_dir.parent))
    try:
        entries = []
        for p in plan.plans:
            folder = p.tag
            write_dry_run(p, tmp / folder)
            entries.append(
                {
                    "ref": p.ref,
                    "folder": folder,
                    "steps": list(p.steps),
                    "base": p.base,
                    "requirements": list(p.requirements),
                    "local_files": list(p.local_files),
                }
            )
        doc = {
            "pipeline": plan.pipeline.name,
            "images": plan.images,
            "builds": entries,
            "as_is": plan.as_is,
        }
        (tmp / "images.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        output_dir.mkdir(parents=True, exist_ok=True)
        for child in sorted(tmp.iterdir()):
            target = output_dir / child.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(child, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output_dir / "images.json"


def build_plans(
    plan: PipelinePlan,
    *,
    client: Any = None,
    push: bool = False,
    wheelhouse: Path | None = None,
    need_local: bool = True,
    progress: Progress | None = None,
    pip_runner: Any = None,
    nocache: bool = False,
) -> BuildOutcome:
    """Build (or reuse by digest) every planned image; push when asked.

    An image already in the engine is not rebuilt; one already in the registry is neither
    rebuilt nor re-pushed (it is pulled only if ``need_local``, e.g. to run it here).
    """
    if push and not plan.registry:
        raise UsageError(
            "--push needs --registry",
            kind="usage",
            fix="kale-like build NB --registry 127.0.0.1:5000/team --push",
        )
    say = progress or (lambda _line: None)
    client = builder.connect(client)
    out = BuildOutcome(images=dict(plan.images))
    todo = [p for p in plan.plans if not _reused(client, p, plan, out, push, need_local, say)]
    if not todo:
        return out
    _pull_bases(client, sorted({p.base for p in todo}), say)
    house = Path(wheelhouse) if wheelhouse else default_wheelhouse()
    pins = sorted({pin for p in todo for layer in p.layers for pin in layer.pins})
    wheels = ensure_wheels(house, pins, runner=pip_runner, progress=say)
    inputs = ContextInputs(package_dir=PACKAGE_DIR, notebook_dir=plan.notebook_dir, wheels=wheels)
    for p in todo:
        ctx = Path(tempfile.mkdtemp(prefix="kale-like-context-"))
        try:
            write_context(p, ctx, inputs)
            say(f"{p.ref}: building for steps {', '.join(p.steps)}")
            out.logs[p.ref] = builder.build_image(client, ctx, p.ref, progress=say, nocache=nocache)
        except EnvironmentProblem as exc:
            # The error names the context's Dockerfile: keep it to read (not the wheels).
            shutil.rmtree(ctx if exc.kind != "build-failed" else ctx / "wheels", True)
            raise
        except BaseException:
            shutil.rmtree(ctx, ignore_errors=True)
            raise
        shutil.rmtree(ctx, ignore_errors=True)
        out.built.append(p.ref)
        if push:
            out.digests[p.ref] = builder.push_image(client, p.ref, progress=say)
            out.pushed.append(p.ref)
    return out


def _reused(
    client: Any,
    p: ImagePlan,
    plan: PipelinePlan,
    out: BuildOutcome,
    push: bool,
    need_local: bool,
    say: Progress,
) -> bool:
    """Is ``p``'s image already there (engine, registry, or same content under another
    name, then retagged)? Pulled or pushed as asked when it is."""
    local = builder.image_exists(client, p.ref)
    remote = builder.registry_has(client, p.ref) if plan.registry else False
    if local or remote:
        where = "engine" if local else "registry"
        say(f"{p.ref}: up to date ({where}), steps {', '.join(p.steps)}")
        out.skipped.append(p.ref)
        if not local and need_local:
            builder.pull_image(client, p.ref)
        if push and not remote:
            out.digests[p.ref] = builder.push_image(client, p.ref, progress=say)
            out.pushed.append(p.ref)
        return True
    same = builder.find_same_content(client, p.ref)
    if same is None:
        return False
    # Same content built under another registry prefix: retag.
    repo, _, tag = p.ref.rpartition(":")
    same.tag(repo, tag)
    say(f"{p.ref}: up to date (same content as {same.tags[0]})")
    out.skipped.append(p.ref)
    if push:
        out.digests[p.ref] = builder.push_image(client, p.ref, progress=say)
        out.pushed.append(p.ref)
    return True


def _pull_bases(client: Any, bases: list[str], say: Progress) -> None:
    """Pull the base images the engine lacks; a clear error when one cannot be pulled."""
    for base in bases:
        if not builder.image_exists(client, base):
            try:
                say(f"pulling base image {base}")
                builder.pull_image(client, base)
            except EnvironmentProblem as exc:
                raise EnvironmentProblem(
                    f"base image {base} is not in the Docker engine and cannot be pulled",
                    kind="base-image-missing",
                    fix="scripts/docker-up.sh builds kale-like/base:py3.11 offline; pass "
                    "--base-image kale-like/base:py3.11 (or set KALE_LIKE_BASE_IMAGE)",
                ) from exc


def input_files(step: Step, notebook_dir: Path | None) -> list[str]:
    """Files beside the notebook the step reads by literal path and no earlier step writes.

    The image carries them (under its app folder, which the runtime mirrors into the step's
    working directory), so ``pd.read_csv('data/raw.csv')`` reads in a container what it
    reads beside the notebook.
    """
    if notebook_dir is None:
        return []
    produced = {path for path, _ in step.file_inputs}
    return [p for p in step.file_reads if p not in produced and (notebook_dir / p).is_file()]
