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
