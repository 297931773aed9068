"""Image plans, Dockerfiles and build contexts (pure, except :func:`write_context`).

One image per distinct step environment (base image + pinned requirements + local helper
files). Layers, most shared first, so images of one pipeline (and of different notebooks)
share everything up to where they differ::

    base -> runtime deps (identical everywhere) -> shared deps (all steps of the pipeline)
         -> step deps -> kale_like runtime source -> local helper code

Step code is not in the image: the compiled pipeline embeds each step's spec, so editing a
step's cells needs no rebuild. Every value written into a Dockerfile is either validated
(image references) or JSON-quoted (exec-form RUN/COPY, labels).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .environment import PythonEnvironment, canonical, closure

# Docker image reference: [host[:port]/]path[:tag][@digest] (distribution/reference grammar).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
)
_LABEL_SAFE = re.compile(r"[^A-Za-z0-9._:/@+=, -]")

APP_DIR = "/opt/kale-like/app"  # local helper modules (first on PYTHONPATH, like the notebook dir)
SRC_DIR = "/opt/kale-like/src"  # kale_like runtime source
WHEEL_DIR = "/opt/kale-like/wheels"
DEFAULT_USER = "1000"
LAYER_NAMES = ("runtime", "shared", "step")


def validate_image_ref(ref: str, *, what: str = "image") -> str:
    """``ref`` if it is a valid Docker image reference, else an InputError (exit 2)."""
    if not isinstance(ref, str) or len(ref) > 255 or not _REFERENCE.fullmatch(ref):
        raise InputError(
            f"{what} {ref!r} is not a valid image reference",
            kind="bad-image",
            fix="use REGISTRY/NAME:TAG, e.g. python:3.11-slim or 127.0.0.1:5000/team/base:1",
        )
    return ref


def validate_registry(registry: str) -> str:
    """A registry prefix ``host[:port][/path]`` (no tag, no digest)."""
    reg = str(registry).rstrip("/")
    if not reg or "@" in reg or len(reg) > 200 or not _REFERENCE.fullmatch(reg + "/x"):
        raise InputError(
            f"registry {registry!r} is not a valid registry prefix",
            kind="bad-registry",
            fix="use HOST[:PORT][/PATH], e.g. 127.0.0.1:5000/team",
        )
    return reg


def slug(name: str) -> str:
    """A repository path component from any pipeline name."""
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s[:100] or "pipeline"


def label_value(value: str) -> str:
    """A double-quoted LABEL value: only a safe character set survives (no $, quotes, newlines)."""
    return json.dumps(_LABEL_SAFE.sub("_", str(value))[:200])


@dataclass(frozen=True)
class Layer:
    """One dependency layer: requirements to install and every distribution they add."""

    name: str  # runtime | shared | step
    requirements: tuple[str, ...]  # pinned top-level requirements
    dists: tuple[tuple[str, str], ...]  # (name, version) added by this layer, sorted

    @property
    def pins(self) -> tuple[str, ...]:
        return tuple(f"{n}=={v}" for n, v in self.dists)


@dataclass(frozen=True)
class ImagePlan:
    """One image to build: shared by every step with the same environment."""

    base: str
    steps: tuple[str, ...]
    layers: tuple[Layer, ...]
    requirements: tuple[str, ...]  # the steps' own pinned requirements (requirements.txt)
    local_files: tuple[str, ...]  # relative to the notebook folder
    user: str | None = DEFAULT_USER
    labels: tuple[tuple[str, str], ...] = ()
    digest: str = ""  # content digest (hex) of the context
    ref: str = ""  # REPOSITORY:sha-<12 hex>

    @property
    def tag(self) -> str:
        return f"sha-{self.digest[:12]}"


@dataclass(frozen=True)
class StepEnv:
    """Input of planning: one step's environment."""

    step: str
    base: str
    requirements: tuple[str, ...]
    local_files: tuple[str, ...] = ()


def group_environments(envs: Iterable[StepEnv]) -> list[tuple[tuple[str, ...], StepEnv]]:
    """Steps with the same base, requirements and local files share one image."""
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[StepEnv]] = {}
    for env in envs:
        key = (env.base, tuple(sorted(env.requirements)), tuple(sorted(env.local_files)))
        groups.setdefault(key, []).append(env)
    return [(tuple(e.step for e in members), members[0]) for members in groups.values()]


def plan_images(
    envs: Iterable[StepEnv],
    *,
    runtime: tuple[str, ...],
    env: PythonEnvironment,
    repository: str,
    source_digest: str,
    file_digests: Mapping[str, str],
    user: str | None = DEFAULT_USER,
    labels: Mapping[str, str] | None = None,
) -> list[ImagePlan]:
    """Plans for every distinct environment, with layers and content-addressed references.

    ``source_digest`` is the digest of the kale_like runtime source copied into every image;
    ``file_digests`` maps each local helper file to the digest of its content.
    """
    groups = group_environments(envs)
    if not groups:
        return []
    runtime_dists = closure(runtime, env)
    closures = [closure(e.requirements, env) for _, e in groups]
    # Shared: every distribution all environments need (beyond the runtime), one layer.
    shared_keys = set.intersection(*(set(c) for c in closures)) - set(runtime_dists)
    plans = []
    for (steps, e), dists_all in zip(groups, closures, strict=True):
        base = validate_image_ref(e.base, what="base image")
        layers = [_layer("runtime", runtime, runtime_dists, {})]
        installed = dict(runtime_dists)
        if len(groups) > 1 and shared_keys:
            shared = {k: dists_all[k] for k in shared_keys}
            pins = tuple(
                f"{n}=={v}" for n, v in sorted(shared.values(), key=lambda nv: canonical(nv[0]))
            )
            layers.append(_layer("shared", pins, shared, installed))
            installed.update(shared)
        step_layer = _layer("step", tuple(sorted(e.requirements)), dists_all, installed)
        if step_layer.dists:
            layers.append(step_layer)
        plan = ImagePlan(
            base=base,
            steps=tuple(steps),
            layers=tuple(layers),
            requirements=tuple(sorted(e.requirements, key=lambda r: canonical(r.split("==")[0]))),
            local_files=tuple(sorted(e.local_files)),
            user=user,
            labels=tuple(sorted((labels or {}).items())),
        )
        digest = context_digest(plan, source_digest, {f: file_digests[f] for f in plan.local_files})
        plans.append(_with_ref(plan, digest, repository))
    return plans


def _layer(
    name: str,
    reqs: tuple[str, ...],
    dists: Mapping[str, tuple[str, str]],
    installed: Mapping[str, tuple[str, str]],
) -> Layer:
    added = sorted(
        (v for k, v in dists.items() if k not in installed), key=lambda nv: canonical(nv[0])
    )
    return Layer(name=name, requirements=tuple(reqs), dists=tuple(added))


def _with_ref(plan: ImagePlan, digest: str, repository: str) -> ImagePlan:
    from dataclasses import replace

    return replace(plan, digest=digest, ref=f"{repository}:sha-{digest[:12]}")


def context_digest(plan: ImagePlan, source_digest: str, file_digests: Mapping[str, str]) -> str:
    """Digest of everything that goes into the image: the Dockerfile, every pinned wheel,
    the runtime source and the local helper files (wheels of a pinned version are immutable)."""
    blob = json.dumps(
        {
            "dockerfile": dockerfile(plan),
            "layers": [[layer.name, list(layer.pins)] for layer in plan.layers],
            "source": source_digest,
            "files": dict(sorted(file_digests.items())),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _json_args(*args: str) -> str:
    return json.dumps(list(args))


def dockerfile(plan: ImagePlan) -> str:
    """The Dockerfile of a plan. No ENTRYPOINT: KFP passes the whole command."""
    lines = [
        "# Generated by kale-like build (content-addressed: the tag is a digest of this context)",
        f"FROM {validate_image_ref(plan.base, what='base image')}",
        # PIP_BREAK_SYSTEM_PACKAGES: Debian-style bases refuse pip installs outside a venv.
        "ENV PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 "
        "PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1",
    ]
    for layer in plan.layers:
        src = f"wheels/{layer.name}"
        dest = f"{WHEEL_DIR}/{layer.name}"
        lines.append(f"COPY {_json_args(src, dest)}")
        # --ignore-requires-python: pins come from the notebook's environment (same X.Y);
        # a base with an older micro release (Debian's 3.11.2) must not refuse them.
        lines.append(
            "RUN "
            + _json_args(
                "python3",
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--no-index",
                "--ignore-requires-python",
                "--find-links",
                dest,
                "-r",
                f"{dest}/requirements.txt",
            )
        )
    lines.append(f"COPY {_json_args('kale_like', SRC_DIR + '/kale_like')}")
    lines.append("RUN " + _json_args("python3", "-m", "compileall", "-q", SRC_DIR))
    # HOME=/tmp: IPython and matplotlib want a writable home whatever the user id.
    lines.append(f"ENV PYTHONPATH={APP_DIR}:{SRC_DIR} HOME=/tmp KALE_LIKE_IMAGE=1")
    for key, value in plan.labels:
        lines.append(f"LABEL {label_value(key)}={label_value(value)}")
    if plan.user:
        if not re.fullmatch(r"[0-9]{1,10}(:[0-9]{1,10})?|[a-z_][a-z0-9_-]{0,31}", plan.user):
            raise InputError(
                f"user {plan.user!r} is not a valid user",
                kind="bad-user",
                fix="use a numeric uid such as 1000",
            )
        lines.append(f"USER {plan.user}")
    # Last: the only layer a change of a helper module rebuilds.
    lines.append(f"COPY {_json_args('app', APP_DIR)}")
    return "\n".join(lines) + "\n"


def requirements_txt(requirements: Iterable[str]) -> str:
    return "".join(f"{r}\n" for r in requirements)


def source_files(package_dir: Path) -> list[Path]:
    """The kale_like files a step imports: ``runtime/`` plus the modules it (transitively)
    imports from the package, found by parsing imports — so editing the compiler, the CLI
    or the server does not change (or rebuild) any image."""
    import ast

    def module_files(name: str) -> list[Path]:
        pkg = package_dir / name
        if pkg.is_dir():
            return sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
        single = package_dir / f"{name}.py"
        return [single] if single.is_file() else []

    wanted = ["__init__", "runtime"]
    seen: set[str] = set()
    files: set[Path] = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        for f in module_files(name):
            files.add(f)
            depth = len(f.relative_to(package_dir).parts) - 1  # 0 = top-level module
            try:
                tree = ast.parse(f.read_text(encoding="utf-8"))
            except SyntaxError:
                continue
            # runtime/: every import (lazy ones run inside steps); elsewhere only module-level
            # imports (lazy imports there serve the CLI/compiler, never a step).
            nodes = ast.walk(tree) if name == "runtime" else _module_level(tree.body)
            for node in nodes:
                if isinstance(node, ast.ImportFrom) and node.level:
                    if node.level - 1 != depth:
                        continue  # relative import inside the subpackage itself
                    if node.module:
                        wanted.append(node.module.split(".")[0])
                    else:
                        wanted.extend(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "kale_like."
                ):
                    wanted.append(str(node.module).split(".")[1])
    typed = package_dir / "py.typed"
    if typed.is_file():
        files.add(typed)
    return sorted(files)


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, (ast.If, ast.Try)):
            out.extend(
                _module_level(
                    node.body
                    + node.orelse
                    + [s for h in getattr(node, "handlers", []) for s in h.body]
                )
            )
    return out


def files_digest(files: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@dataclass
class ContextInputs:
    """Where the files of a context come from."""

    package_dir: Path  # the kale_like package
    notebook_dir: Path | None
    wheels: Mapping[str, Path] = field(default_factory=dict)  # "name==version" -> wheel file


def write_dry_run(plan: ImagePlan, folder: Path) -> None:
    """Dockerfile + requirements.txt of one image (no engine, no downloads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(dockerfile(plan), encoding="utf-8")
    (folder / "requirements.txt").write_text(requirements_txt(plan.requirements), encoding="utf-8")


def write_context(plan: ImagePlan, folder: Path, inputs: ContextInputs) -> None:
    """A complete build context: Dockerfile, wheels per layer, runtime source, helpers."""
    write_dry_run(plan, folder)
    for layer in plan.layers:
        wdir = folder / "wheels" / layer.name
        wdir.mkdir(parents=True, exist_ok=True)
        (wdir / "requirements.txt").write_text(requirements_txt(layer.pins), encoding="utf-8")
        for pin in layer.pins:
            src = inputs.wheels[canonical_pin(pin)]
            _link(src, wdir / src.name)
    dest = folder / "kale_like"
    for src in source_files(inputs.package_dir):
        target = dest / src.relative_to(inputs.package_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        _link(src, target)
    app = folder / "app"
    app.mkdir(exist_ok=True)
    for rel in plan.local_files:
        assert inputs.notebook_dir is not None
        target = app / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(inputs.notebook_dir / rel, target)


def canonical_pin(pin: str) -> str:
    name, _, version = pin.partition("==")
    return f"{canonical(name)}=={version}"


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
