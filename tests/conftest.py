"""Shared fixtures: the corpus, notebook builders, and the rule that no-tests is a failure."""

from __future__ import annotations

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
