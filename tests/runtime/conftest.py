"""Fixtures for the runtime tests."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from runtime_kit import StepDir


@pytest.fixture
def steps(tmp_path: Path) -> StepDir:
    return StepDir(tmp_path / "run")


@pytest.fixture(autouse=True)
def restore_process_state(monkeypatch: pytest.MonkeyPatch) -> Any:
    """run_step changes process-global state on purpose; give pytest its own back."""
    env = dict(os.environ)
    cwd = os.getcwd()
    path = list(sys.path)
    filters = list(warnings.filters)
    main = sys.modules.get("__main__")
    yield
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.path[:] = path
    warnings.filters[:] = filters  # type: ignore[index]
    if main is not None:
        sys.modules["__main__"] = main
