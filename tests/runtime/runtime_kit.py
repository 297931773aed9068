"""Helpers for runtime tests: hand-built step specs, in-process and per-process step runs.

Imported by the runtime tests (``from runtime_kit import ...``); fixtures live in conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def make_spec(
    step: str,
    cells: list[tuple[int, str]],
    *,
    imports: Sequence[tuple[int, str]] = (),
    functions: Sequence[tuple[int, str]] = (),
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    parameters: Sequence[str] = (),
    state_inputs: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> dict[str, Any]:
    """A spec shaped exactly like ``kale_like.runtime.spec.step_spec`` returns."""
    return {
        "version": 1,
        "pipeline": "test",
        "step": step,
        "cells": [{"index": i, "source": s} for i, s in cells],
        "prelude": {
            "imports": [{"index": i, "source": s} for i, s in imports],
            "functions": [{"index": i, "source": s} for i, s in functions],
        },
        "inputs": list(inputs),
        "outputs": list(outputs),
        "parameters": list(parameters),
        "state_inputs": list(state_inputs),
        "metrics": list(metrics),
        "report": True,
    }


class StepDir:
    """Artifact paths of a sequence of steps under one folder (like an engine's run dir)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def out(self, step: str, var: str) -> str:
        return str(self.root / step / "outputs" / var)

    def state(self, step: str) -> str:
        return str(self.root / step / "state")

    def job(
        self,
        spec: dict[str, Any],
        *,
        inputs: dict[str, str] | None = None,
        state_inputs: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Job dict for ``python -m kale_like.runtime``: ``inputs`` map var -> producer step."""
        step = spec["step"]
        d = self.root / step
        return {
            "spec": spec,
            "inputs": {v: self.out(p, v) for v, p in (inputs or {}).items()},
            "state_inputs": {k: self.state(p) for k, p in (state_inputs or {}).items()},
            "outputs": {v: self.out(step, v) for v in spec["outputs"]},
            "state_output": self.state(step),
            "parameters": parameters or {},
            "report_path": str(d / "report.html"),
            "notebook_path": str(d / "step.ipynb"),
            "result_path": str(d / "result.json"),
        }

    def run_process(self, job: dict[str, Any], cwd: Path | None = None) -> tuple[int, dict]:
        """Run one step in its own interpreter, as the local engine does."""
        step_dir = self.root / job["spec"]["step"]
        step_dir.mkdir(parents=True, exist_ok=True)
        job_file = step_dir / "job.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [sys.executable, "-m", "kale_like.runtime", str(job_file)],
            cwd=cwd or self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = json.loads(Path(job["result_path"]).read_text(encoding="utf-8"))
        if proc.returncode not in (0, 1):
            raise AssertionError(proc.stderr)
        return proc.returncode, result


def load_notebook_cells(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def corpus_cells(path: Path) -> dict[str, Any]:
    """Cells of a corpus notebook by role: prelude, parameter defaults, and each step's cells.

    A minimal reading of the tags (enough for hand-built specs; analysis does the real work).
    """
    out: dict[str, Any] = {"imports": [], "functions": [], "parameters": {}, "steps": {}}
    current = None
    for index, cell in enumerate(load_notebook_cells(path)):
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        src = source(cell)
        if "skip" in tags or "pipeline-metrics" in tags:
            continue
        if "imports" in tags:
            out["imports"].append((index, src))
        elif "functions" in tags:
            out["functions"].append((index, src))
        elif "pipeline-parameters" in tags or "parameters" in tags:
            ns: dict[str, Any] = {}
            exec(src, ns)
            out["parameters"].update({k: v for k, v in ns.items() if k != "__builtins__"})
        else:
            names = [t.split(":", 1)[1] for t in tags if t.startswith(("step:", "block:"))]
            if names:
                current = names[0]
            out["steps"].setdefault(current, []).append((index, src))
    return out
