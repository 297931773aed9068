"""Helpers of the hostile probes: notebooks in code, the CLI in-process, ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kale_like.cli import main

__all__ = ["cli", "top_to_bottom"]


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    """Run ``kale-like ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def top_to_bottom(notebook: Path, names: list[str]) -> dict[str, Any]:
    """The ground truth: every code cell run in order in a fresh interpreter, in the
    notebook's folder; the JSON values of ``names`` at the end."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code += f"\nimport json as _j\nprint(_j.dumps({{n: globals()[n] for n in {names!r}}}))\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=notebook.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
