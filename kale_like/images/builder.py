"""docker-py shell: connect, check what exists, build (streaming), push, pull.

The client is injected (tests pass a fake); :func:`connect` makes a real one. Every engine
or registry failure becomes an :class:`~kale_like.errors.EnvironmentProblem` (exit 3) that
says what failed and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, missing_extra

Progress = Callable[[str], None]

NO_ENGINE_FIX = (
    "start a Docker engine: scripts/docker-up.sh (as root; starts dockerd, the base image and "
    "a registry on 127.0.0.1:5000), or `systemctl start docker`; set DOCKER_HOST if it "
    "listens elsewhere"
)
_STEP_LINE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def connect(client: Any = None) -> Any:
    """A docker-py client that answers, or EnvironmentProblem (exit 3)."""
    if client is not None:
        return client
    try:
        import docker
    except ImportError as exc:
        raise missing_extra("docker", "docker", "building and running step images") from exc
    try:
        real = docker.from_env(timeout=300)
        real.ping()
    except Exception as exc:  # DockerException, requests errors, socket errors
        raise EnvironmentProblem(
            f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:200]})",
            kind="no-docker",
            fix=NO_ENGINE_FIX,
        ) from exc
    return real


def image_exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except Exception as exc:
        if type(exc).__name__ in ("ImageNotFound", "NotFound"):
            return False
        raise _engine_error(exc) from exc
    return True


def find_same_content(client: Any, ref: str) -> Any:
    """A local image holding the same content under another repository (same ``:sha-`` tag
    and image name), e.g. built for another registry prefix; None if there is none."""
    repo, _, tag = ref.rpartition(":")
    name = repo.rsplit("/", 1)[-1]
    try:
        images = client.images.list()
    except Exception as exc:
        raise _engine_error(exc) from exc
    for image in images:
        for other in getattr(image, "tags", None) or ():
            orepo, _, otag = other.rpartition(":")
            if otag == tag and orepo.rsplit("/", 1)[-1] == name:
                return image
    return None


def registry_of(ref: str) -> str:
    first = ref.split("/", 1)[0]
    return (
        first
        if ("." in first or ":" in first or first == "localhost") and "/" in ref
        else "docker.io"
    )


def registry_has(client: Any, ref: str) -> bool:
    """True if the registry already holds ``ref`` (a manifest HEAD through the engine)."""
    try:
        client.api.inspect_distribution(ref)
    except Exception as exc:
        text = str(exc).lower()
        if _unreachable(text):
            raise registry_error(ref, exc) from exc
        return False  # not found / unknown manifest / no such repository
    return True


def _unreachable(text: str) -> bool:
    return any(
        s in text
        for s in (
            "connection refused",
            "no such host",
            "dial tcp",
            "i/o timeout",
            "server gave http response",
            "no route to host",
        )
    )


def registry_error(ref: str, exc: Any) -> EnvironmentProblem:
    reg = registry_of(ref)
    return EnvironmentProblem(
        f"registry {reg} is unreachable or refused {ref}: {str(exc)[:300]}",
        kind="registry-unreachable",
        fix=f"start the registry (scripts/docker-up.sh starts one on 127.0.0.1:5000) or check "
        f"--registry {reg}",
    )


def _engine_error(exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"Docker engine error: {str(exc)[:300]}", kind="docker-error", fix=NO_ENGINE_FIX
    )


@dataclass
class BuildLog:
    """What one build did: its instructions, which ran and which were cached."""

    ref: str
    lines: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # instruction of each Dockerfile step
    cached: list[bool] = field(default_factory=list)  # per step: served from the layer cache

    @property
    def rebuilt(self) -> list[str]:
        """Instructions that were executed (not taken from the cache)."""
        return [
            s
            for s, c in zip(self.steps, self.cached, strict=True)
            if not c and not s.startswith("FROM ")
        ]


def build_image(
    client: Any,
    context: Path,
    ref: str,
    *,
    progress: Progress | None = None,
    labels: dict[str, str] | None = None,
    nocache: bool = False,
) -> BuildLog:
    """Build ``context`` as ``ref`` without network access, streaming progress lines."""
    log = BuildLog(ref=ref)
    error: str | None = None
    try:
        stream = client.api.build(
            path=str(context),
            tag=ref,
            network_mode="none",
            decode=True,
            rm=True,
            forcerm=True,
            nocache=nocache,
            labels=labels or None,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    if not line.strip():
                        continue
                    log.lines.append(line)
                    if progress:
                        progress(line)
                    m = _STEP_LINE.match(line)
                    if m:
                        log.steps.append(m.group(3))
                        log.cached.append(m.group(3).startswith("FROM "))
                    elif "Using cache" in line and log.cached:
                        log.cached[-1] = True
            if "error" in chunk or "errorDetail" in chunk:
                error = str(chunk.get("error") or chunk["errorDetail"].get("message"))
                log.lines.append(error)
    except Exception as exc:
        if type(exc).__name__ in ("BuildError", "APIError"):
            error = str(exc)
        else:
            raise _engine_error(exc) from exc
    if error is not None:
        raise build_failure(context, log, error)
    return log


def build_failure(context: Path, log: BuildLog, error: str) -> EnvironmentProblem:
    """The failing Dockerfile line and the tail of the build log."""
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8").splitlines()
    where = ""
    if log.steps:
        failing = log.steps[-1]
        for n, line in enumerate(dockerfile, 1):
            if line.strip() == failing.strip():
                where = f"Dockerfile line {n}: {line}"
                break
        else:
            where = f"Dockerfile step {len(log.steps)}: {failing}"
    tail = "\n".join("    " + s for s in log.lines[-15:])
    missing_base = "pull access denied" in error or "not found" in error and not log.steps[1:]
    fix = (
        (
            "build the base image (scripts/docker-up.sh makes kale-like/base:py3.11) or pass "
            "--base-image with a local image"
        )
        if missing_base
        else (
            "see the build log above; the wheelhouse must hold every pinned wheel "
            "(delete it to download again)"
        )
    )
    return EnvironmentProblem(
        f"building {log.ref} failed: {error.strip()}\n  {where}\n  build log (last lines):\n{tail}",
        kind="build-failed",
        path=str(context / "Dockerfile"),
        fix=fix,
    )


def push_image(client: Any, ref: str, *, progress: Progress | None = None) -> str:
    """Push ``ref``; returns the manifest digest (``sha256:...``) the registry reports."""
    repo, _, tag = ref.rpartition(":")
    digest = ""
    try:
        for chunk in client.images.push(repo, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                msg = str(chunk.get("error") or chunk["errorDetail"].get("message"))
                raise registry_error(ref, msg)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
            status = str(chunk.get("status") or "")
            # Per-layer chatter (Preparing/Waiting/Pushing) is noise; keep outcomes.
            if progress and status and status not in ("Preparing", "Waiting", "Pushing"):
                progress(f"push {ref}: {status}")
    except EnvironmentProblem:
        raise
    except Exception as exc:
        raise registry_error(ref, exc) from exc
    return digest


def pull_image(client: Any, ref: str) -> None:
    try:
        client.images.pull(ref)
    except Exception as exc:
        raise registry_error(ref, exc) from exc
