"""Requirement inference: which pinned distributions each step's image needs (pure).

A step needs the distributions providing the top-level modules it imports (``Step.modules``:
imports cell, its own cells, the functions it calls), the packages named on ``%pip install``
lines, the modules imported by local helper modules beside the notebook, and the
requirements the user lists (notebook metadata ``kubeflow_notebook.requirements`` or a
``requirements.txt`` beside the notebook). Modules map to distributions through the
notebook environment's ``importlib.metadata.packages_distributions()``; the standard library
is dropped; versions are pinned to the environment's. The environment is a value
(:class:`~.environment.PythonEnvironment`) so tests inject a fake one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Diagnostic
from ..errors import InputError
from ..local_modules import local_module_files
from ..model import Pipeline
from .environment import EXCLUDED, PythonEnvironment, canonical

# Distributions the step runtime imports inside every image (kale_like.runtime + KFP's
# executor); its reports are written without nbformat/nbconvert. kale_like itself is
# copied as source, not installed.
RUNTIME_DISTRIBUTIONS: tuple[str, ...] = ("kfp", "ipython", "cloudpickle", "pyyaml")
# Marshalling writes some types in formats that need a companion package at load time:
# a DataFrame saved as parquet by one step must be readable by the next one.
COMPANIONS: dict[str, tuple[str, ...]] = {"pandas": ("pyarrow",)}

_PIP_LINE = re.compile(r"^\s*[%!]{1,2}\s*pip3?\s+install\s+(?P<args>.+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class StepRequirements:
    """What one step's image needs."""

    step: str
    requirements: tuple[str, ...]  # pinned ``name==version``, sorted by canonical name
    local_files: tuple[str, ...] = ()  # paths relative to the notebook folder
    modules: tuple[str, ...] = ()  # third-party modules that led to the requirements
    unknown: tuple[str, ...] = ()  # modules no distribution provides


@dataclass
class _Acc:
    reqs: dict[str, str] = field(default_factory=dict)  # canonical -> pinned requirement
    local: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)


def pip_magic_packages(source: str) -> list[str]:
    """Requirement strings named on ``%pip install`` / ``!pip install`` lines of a cell."""
    out: list[str] = []
    for line in source.splitlines():
        m = _PIP_LINE.match(line)
        if not m:
            continue
        skip_next = False
        for arg in m.group("args").split():
            if skip_next:
                skip_next = False
                continue
            if arg.startswith("-"):
                # options taking a value (-r FILE, -i URL, -c FILE...) swallow the next word
                skip_next = arg in {
                    "-r",
                    "-c",
                    "-i",
                    "-e",
                    "-f",
                    "--index-url",
                    "--extra-index-url",
                    "--find-links",
                    "--requirement",
                    "--constraint",
                    "--target",
                }
                continue
            arg = arg.strip("'\"")
            if _NAME.match(arg) and "/" not in arg and "://" not in arg:
                out.append(arg)
    return out


def requirement_name(req: str) -> str | None:
    m = _NAME.match(req.strip())
    return m.group(0) if m else None


def requirement_problem(line: str) -> str | None:
    """Why ``line`` (comment and blanks already removed) is not a plain requirement for an
    image's requirements.txt, or ``None``. The one check of every user-listed requirement:
    a pip option (``--index-url``, ``-e``, ``-r``...) or a second line would change how
    pip installs the whole image, and pip reads anything else as it sees fit."""
    from packaging.requirements import InvalidRequirement, Requirement

    if any(c in line for c in "\n\r\0"):
        return "it holds a line break"
    if line.startswith("-"):
        return "it is a pip option, not a requirement"
    if requirement_name(line) is None:
        return "it does not start with a distribution name"
    try:
        Requirement(line)
    except InvalidRequirement as exc:
        return f"it is not a valid requirement ({str(exc).splitlines()[0]})"
    return None


_PLAIN_FIX = "list distributions as `name` or `name==version` lines, one per entry"


def explicit_requirements(
    pipeline: Pipeline, notebook_dir: Path | None
) -> tuple[list[str], list[Diagnostic]]:
    """User-listed requirements: notebook metadata, then ``requirements.txt`` beside it.

    Both go through :func:`requirement_problem`. A bad metadata entry is an input error
    (exit 2: the field exists only for these images); a bad line of requirements.txt is
    skipped with a warning (the file often serves the user's own pip too)."""
    reqs: list[str] = []
    diags: list[Diagnostic] = []
    md = pipeline.metadata or {}
    kn = md.get("kubeflow_notebook") if isinstance(md.get("kubeflow_notebook"), dict) else md
    listed = kn.get("requirements") if isinstance(kn, dict) else None
    where = "kubeflow_notebook.requirements"
    text_field = isinstance(listed, str)  # one text instead of a list: name its lines
    if isinstance(listed, str):
        listed = listed.splitlines()
    elif listed is not None and not isinstance(listed, list):
        raise InputError(
            f"notebook metadata {where} must be a list of requirements, got {listed!r}",
            kind="bad-requirement",
            path=pipeline.notebook_path,
            fix=f'write e.g. ["scikit-learn==1.5.0", "joblib"]; {_PLAIN_FIX}',
        )
    for i, item in enumerate(listed or ()):
        if not isinstance(item, str):
            why: str | None = "it is not a string"
            line = ""
        else:
            line = item.strip()
            # A comment is dropped; a comment hiding a second line is not.
            line = line if "\n" in line or "\r" in line else line.split("#", 1)[0].strip()
            if not line:
                continue
            why = requirement_problem(line)
        if why is not None:
            raise InputError(
                f"notebook metadata {where}{f' line {i + 1}' if text_field else f'[{i}]'}"
                f" {item!r} is refused: {why}",
                kind="bad-requirement",
                path=pipeline.notebook_path,
                fix=f"remove it, or {_PLAIN_FIX} (images install wheels from --wheelhouse:"
                " no index or editable options needed)",
            )
        reqs.append(line)
    if notebook_dir is not None and (notebook_dir / "requirements.txt").is_file():
        text = (notebook_dir / "requirements.txt").read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            why = requirement_problem(line)
            if why is not None:
                diags.append(
                    Diagnostic(
                        "warning",
                        "requirement-ignored",
                        f"requirements.txt line {n}: {line!r} is ignored for images: {why}",
                        fix=_PLAIN_FIX,
                    )
                )
                continue
            reqs.append(line)
    return reqs, diags


def imported_modules(source: str) -> set[str]:
    """Top-level modules a Python file imports anywhere (absolute imports only)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def _resolve(
    module: str,
    acc: _Acc,
    env: PythonEnvironment,
    notebook_dir: Path | None,
    explicit: set[str],
    seen: set[str],
) -> None:
    if module in seen:
        return
    seen.add(module)
    if module in env.stdlib or module in {"__future__", "kale_like", "__main__"}:
        return
    files = local_module_files(notebook_dir, module)
    if files is not None:
        assert notebook_dir is not None
        for f in files:
            acc.local.add(f.relative_to(notebook_dir).as_posix())
            if f.suffix == ".py":
                for sub in sorted(
                    imported_modules(f.read_text(encoding="utf-8", errors="replace"))
                ):
                    _resolve(sub, acc, env, notebook_dir, explicit, seen)
        return
    dists = env.module_dists.get(module)
    if dists:
        acc.modules.add(module)
        for d in dists:
            _add_dist(d, acc, env)
        return
    if canonical(module) in explicit:
        return  # the user said which distribution provides it
    acc.unknown.add(module)


def _add_dist(name: str, acc: _Acc, env: PythonEnvironment) -> None:
    key = canonical(name)
    if key in EXCLUDED or key in acc.reqs:
        return
    pinned = env.pin(name)
    if pinned is None:
        return
    acc.reqs[key] = pinned
    for comp in COMPANIONS.get(key, ()):
        _add_dist(comp, acc, env)


def _pin_explicit(req: str, env: PythonEnvironment) -> tuple[str, str]:
    """(canonical name, requirement) — a bare or satisfied name is pinned to the environment."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        parsed = Requirement(req)
    except InvalidRequirement:
        name = requirement_name(req) or req
        return canonical(name), req
    key = canonical(parsed.name)
    have = env.versions.get(key)
    if have and (not parsed.specifier or parsed.specifier.contains(have[1], prereleases=True)):
        extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
        return key, f"{have[0]}{extras}=={have[1]}"
    return key, str(parsed)


def infer_requirements(
    pipeline: Pipeline,
    *,
    notebook_dir: Path | None = None,
    env: PythonEnvironment | None = None,
) -> tuple[dict[str, StepRequirements], list[Diagnostic]]:
    """Per-step pinned requirements, local helper files and unknown modules (+ diagnostics)."""
    env = env or PythonEnvironment.current()
    if notebook_dir is None and pipeline.notebook_path:
        notebook_dir = Path(pipeline.notebook_path).resolve().parent
    explicit_list, diags = explicit_requirements(pipeline, notebook_dir)
    explicit = dict(_pin_explicit(r, env) for r in explicit_list)
    out: dict[str, StepRequirements] = {}
    accs: dict[str, _Acc] = {}
    for step in pipeline.steps:
        acc = _Acc()
        seen: set[str] = set()
        for module in sorted(step.modules):
            _resolve(module, acc, env, notebook_dir, set(explicit), seen)
        for key, req in explicit.items():
            acc.reqs.setdefault(key, req)
        magic: list[str] = []
        prelude = pipeline.prelude_for(step)  # a composed step replays its own notebook's
        for src in (*prelude.imports, *prelude.functions, *step.sources):
            magic.extend(pip_magic_packages(src))
        for req in magic:
            key, pinned = _pin_explicit(req, env)
            if key not in EXCLUDED:
                acc.reqs.setdefault(key, pinned)
        if magic:
            diags.append(
                Diagnostic(
                    "info",
                    "pip-install-magic",
                    f"step {step.name!r}: %pip install {' '.join(magic)} is baked into its image; "
                    "the line finds the packages installed when the step starts",
                    step=step.name,
                )
            )
        for module in sorted(acc.unknown):
            diags.append(
                Diagnostic(
                    "error",
                    "unknown-module",
                    f"step {step.name!r} imports {module!r}, which no installed distribution "
                    "provides, so its image cannot include it",
                    step=step.name,
                    fix=f"install the distribution providing {module!r} in the notebook's "
                    "environment, or list it in notebook metadata `kubeflow_notebook.requirements` "
                    "or in a requirements.txt beside the notebook",
                )
            )
        # Values a step loads were made by its producers' code: a DataFrame needs pandas, an
        # instance of a helper class needs the helper, even if this step imports neither.
        # Steps are in topological order, so producers are complete already.
        producers = {p for _, p in step.inputs} | {p for _, p in step.state_inputs}
        for producer in sorted(producers):
            if producer in accs:
                for key, req in accs[producer].reqs.items():
                    acc.reqs.setdefault(key, req)
                acc.local |= accs[producer].local
        accs[step.name] = acc
        out[step.name] = StepRequirements(
            step=step.name,
            requirements=tuple(v for _, v in sorted(acc.reqs.items())),
            local_files=tuple(sorted(acc.local)),
            modules=tuple(sorted(acc.modules)),
            unknown=tuple(sorted(acc.unknown)),
        )
    return out, diags


def runtime_requirements(env: PythonEnvironment) -> tuple[str, ...]:
    """Pinned requirements of the step runtime (identical for every image)."""
    pins = [env.pin(d) for d in RUNTIME_DISTRIBUTIONS]
    return tuple(sorted((p for p in pins if p), key=lambda r: canonical(r.split("==")[0])))
