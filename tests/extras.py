"""Optional modules the tests use: skipped where they are not installed, required in CI.

Use :func:`require` instead of ``pytest.importorskip``. With ``KALE_LIKE_REQUIRE_EXTRAS=1``
(``.ci/run`` sets it) a module that does not import is a failure naming it, so a broken extra
cannot hide the tests that need it behind a skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE_ENV = "KALE_LIKE_REQUIRE_EXTRAS"


def required() -> bool:
    """Whether a missing optional module must fail the test rather than skip it."""
    return os.environ.get(REQUIRE_ENV) == "1"


def require(name: str) -> ModuleType:
    """Import ``name``; skip the test (or module) without it, or fail when extras are required."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a broken extra can raise more than ImportError on import
        if required():
            pytest.fail(
                f"{REQUIRE_ENV}=1 but the optional module {name!r} does not import: "
                f"{type(exc).__name__}: {exc}",
                pytrace=False,
            )
        if not isinstance(exc, ImportError):
            raise
        pytest.skip(f"optional module {name!r} is not installed ({exc})", allow_module_level=True)
