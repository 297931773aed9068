"""The notebook's Python environment as a value: installed distributions and what they pull in.

:class:`PythonEnvironment` records which distribution provides each top-level module, each
installed distribution's version and its ``Requires-Dist``; :func:`closure` walks those to
every distribution a set of pinned requirements installs. Tests inject a fake environment.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Never pinned into an image: the tool itself (copied as source) and installers.
EXCLUDED = frozenset({"kale-like", "pip"})


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PythonEnvironment:
    """What the notebook's Python environment holds (injectable for tests)."""

    module_dists: Mapping[str, tuple[str, ...]]  # top-level module -> distribution names
    versions: Mapping[str, tuple[str, str]]  # canonical name -> (display name, version)
    requires: Mapping[str, tuple[str, ...]]  # canonical name -> Requires-Dist strings
    stdlib: frozenset[str] = frozenset(sys.stdlib_module_names)
    python: str = f"{sys.version_info.major}.{sys.version_info.minor}"

    @classmethod
    def current(cls) -> PythonEnvironment:
        """The environment this process runs in (the notebook's kernel environment)."""
        import importlib.metadata as md

        versions: dict[str, tuple[str, str]] = {}
        requires: dict[str, tuple[str, ...]] = {}
        for dist in md.distributions():
            name = dist.metadata["Name"]
            if not name:
                continue
            key = canonical(name)
            if key in versions:  # first on sys.path wins, as for imports
                continue
            versions[key] = (name, dist.version)
            requires[key] = tuple(dist.requires or ())
        mods = {m: tuple(dict.fromkeys(ds)) for m, ds in md.packages_distributions().items()}
        return cls(module_dists=mods, versions=versions, requires=requires)

    def pin(self, name: str) -> str | None:
        found = self.versions.get(canonical(name))
        return f"{found[0]}=={found[1]}" if found else None


def closure(requirements: Iterable[str], env: PythonEnvironment) -> dict[str, tuple[str, str]]:
    """Every distribution (canonical -> (name, version)) the pinned requirements pull in.

    Walks ``Requires-Dist`` of the installed distributions, evaluating markers for this
    Python (the image runs the same X.Y) and following extras. Distributions that are not
    installed are kept with the version the requirement pins, if any.
    """
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    marker_env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    out: dict[str, tuple[str, str]] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = []  # (requirement string, extra being followed)
    todo.extend((r, "") for r in requirements)
    while todo:
        req_s, _ = todo.pop()
        try:
            req = Requirement(req_s)
        except InvalidRequirement:
            continue
        key = canonical(req.name)
        if key in EXCLUDED:
            continue
        extras = tuple(sorted(req.extras))
        have = env.versions.get(key)
        if have is None:
            pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
            if pins and key not in out:
                out[key] = (req.name, pins[0])
            continue
        out.setdefault(key, have)
        for extra in ("",) + extras:
            if (key, extra) in done:
                continue
            done.add((key, extra))
            for dep in env.requires.get(key, ()):
                try:
                    dreq = Requirement(dep)
                except InvalidRequirement:
                    continue
                if dreq.marker is not None:
                    if not dreq.marker.evaluate({**marker_env, "extra": extra}):
                        continue
                elif extra:
                    continue  # unconditional deps were followed with extra ""
                todo.append((dep, extra))
    return out
