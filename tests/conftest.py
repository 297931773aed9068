"""Shared fixtures: the corpus, notebook builders, and the rule that no-tests is a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from corpus_kit import CORPUS, ROOT, load_manifest

__all__ = ["CORPUS", "ROOT", "load_manifest"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when it collected nothing; a suite that ran no test must fail, not pass.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS / "manifest.json").exists():
        pytest.fail(f"corpus not found at {CORPUS} (set KALE_LIKE_CORPUS)")
    return CORPUS


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, Any]]:
    return load_manifest()


KALE_VERSION = "2.3.0"  # the kubeflow-kale sdist whose examples set-up fetches


@pytest.fixture(scope="session")
def kale_examples() -> Path:
    """Kale's published examples (``.cache/kale``); CI requires them, elsewhere a skip."""
    folder = ROOT / ".cache" / "kale" / KALE_VERSION / "examples"
    if not folder.is_dir():
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "fetch_kale_examples.py"), KALE_VERSION],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not folder.is_dir():
            if os.environ.get("KALE_LIKE_REQUIRE_KALE_EXAMPLES") == "1":
                pytest.fail(f"Kale's examples could not be fetched: {proc.stderr[-500:]}")
            pytest.skip("Kale's examples are not available (no network to the package index)")
    return folder
