"""The wheelhouse: pinned wheels downloaded on the host once, installed with ``--no-index``.

Builds run with ``network_mode="none"`` (air-gapped clusters and machines that reach no
index from inside a build), so every wheel an image needs comes from this folder. Missing
ones are fetched by one ``pip wheel --no-deps`` call (sdists are built into wheels on the
host); the dependency closure is computed from the environment, so pip resolves nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import EnvironmentProblem
from .environment import canonical

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def default_wheelhouse() -> Path:
    """``$KALE_LIKE_WHEELHOUSE``, else ``$XDG_CACHE_HOME/kale-like/wheelhouse``."""
    env = os.environ.get("KALE_LIKE_WHEELHOUSE")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kale-like" / "wheelhouse"


def index_wheels(folder: Path) -> dict[str, Path]:
    """``canonical-name==version`` -> a wheel compatible with this interpreter."""
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    ranking = {tag: i for i, tag in enumerate(sys_tags())}
    best: dict[str, tuple[int, Path]] = {}
    if not folder.is_dir():
        return {}
    for path in sorted(folder.glob("*.whl")):
        try:
            name, version, _build, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        rank = min((ranking[t] for t in tags if t in ranking), default=None)
        if rank is None:
            continue
        key = f"{canonical(name)}=={version}"
        if key not in best or rank < best[key][0]:
            best[key] = (rank, path)
    return {k: p for k, (_, p) in best.items()}


def _key(pin: str) -> str:
    from packaging.version import Version

    name, _, version = pin.partition("==")
    return f"{canonical(name)}=={Version(version)}"


def ensure_wheels(
    folder: Path,
    pins: Iterable[str],
    *,
    runner: Runner | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Every pinned ``name==version`` as a wheel in ``folder`` (downloaded if missing).

    Returns ``canonical-name==version`` -> wheel path (keys as :func:`context.canonical_pin`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {p: _key(p) for p in sorted(set(pins))}
    have = index_wheels(folder)
    missing = [p for p, k in wanted.items() if k not in have]
    if missing:
        if progress:
            progress(f"wheelhouse: fetching {len(missing)} wheel(s) into {folder}")
        run = runner or _run
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(folder),
            *missing,
        ]
        proc = run(cmd)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-12:])
            raise EnvironmentProblem(
                f"could not fetch wheels for {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''} into the wheelhouse {folder}:\n{tail}",
                kind="wheelhouse",
                fix="check access to the package index, or fill the wheelhouse on a connected "
                f"machine: pip wheel --no-deps -w {folder} NAME==VERSION",
            )
        have = index_wheels(folder)
    out: dict[str, Path] = {}
    for pin, key in wanted.items():
        if key not in have:
            raise EnvironmentProblem(
                f"no wheel for {pin} compatible with Python "
                f"{sys.version_info.major}.{sys.version_info.minor} in {folder}",
                kind="wheelhouse",
                fix=f"pip wheel --no-deps -w {folder} {pin}",
            )
        name, _, version = pin.partition("==")
        out[f"{canonical(name)}=={version}"] = have[key]
    return out


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)
