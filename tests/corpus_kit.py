"""The shared corpus: where it is and its manifest (importable from any test module)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("KALE_LIKE_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()


def load_manifest() -> list[dict[str, Any]]:
    return json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))


def assert_step_settings(
    expected: dict[str, Any], container: dict[str, Any], task: dict[str, Any]
) -> None:
    """A manifest ``step_settings`` entry against a compiled executor container and its task."""
    if "image" in expected:
        assert container["image"] == expected["image"]
    res = container.get("resources", {})
    for resource, value in expected.get("limits", {}).items():
        if resource == "cpu":
            assert res["resourceCpuLimit"] == value
        elif resource == "memory":
            assert res["resourceMemoryLimit"] == value
        else:
            assert res["accelerator"]["resourceType"] == resource
            assert res["accelerator"]["resourceCount"] == value
    if "cache" in expected:
        enabled = task.get("cachingOptions", {}).get("enableCache", False)
        assert enabled is (expected["cache"] == "enabled")
