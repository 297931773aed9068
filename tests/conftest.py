"""Shared fixtures: the corpus, notebook builders, and the rule that no-tests is a failure."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("KALE_LIKE_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when it collected nothing; a suite that ran no test must fail, not pass.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def load_manifest() -> list[dict[str, Any]]:
    return json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS / "manifest.json").exists():
        pytest.fail(f"corpus not found at {CORPUS} (set KALE_LIKE_CORPUS)")
    return CORPUS


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, Any]]:
    return load_manifest()
