"""Fixtures for image tests: a fake environment and docker client, and the real engine.

Tests marked ``docker`` need a Docker engine, the base image and the local registry that
``scripts/docker-up.sh`` starts. Without them they are skipped — unless
``KALE_LIKE_REQUIRE_DOCKER=1`` (CI sets it), which turns a missing engine into a failure.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from image_fakes import fake_env

from kale_like.images.environment import PythonEnvironment

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("KALE_LIKE_BASE_IMAGE", "kale-like/base:py3.11")
REGISTRY_ADDR = os.environ.get("KALE_LIKE_REGISTRY_ADDR", "127.0.0.1:5000")
WHEELHOUSE = Path(os.environ.get("KALE_LIKE_WHEELHOUSE", ROOT / ".cache" / "wheelhouse"))


def _unavailable(why: str) -> None:
    if os.environ.get("KALE_LIKE_REQUIRE_DOCKER") == "1":
        pytest.fail(f"KALE_LIKE_REQUIRE_DOCKER=1 but {why} (run scripts/docker-up.sh)")
    pytest.skip(f"{why}; start it with scripts/docker-up.sh")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker-py client of a running engine that holds the base image."""
    try:
        import docker

        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # no package, no socket, no daemon
        _unavailable(f"no Docker engine answers ({type(exc).__name__})")
    try:
        client.images.get(BASE_IMAGE)
    except Exception:
        _unavailable(f"the base image {BASE_IMAGE} is missing")
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry() -> str:
    """``host:port`` of the local registry (a ``/v2/`` that answers)."""
    try:
        with urllib.request.urlopen(f"http://{REGISTRY_ADDR}/v2/", timeout=3) as resp:
            resp.read()
    except Exception as exc:
        _unavailable(f"no registry answers on {REGISTRY_ADDR} ({type(exc).__name__})")
    return REGISTRY_ADDR


@pytest.fixture(scope="session")
def base_image() -> str:
    return BASE_IMAGE


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    return WHEELHOUSE


@pytest.fixture
def env() -> PythonEnvironment:
    return fake_env()
