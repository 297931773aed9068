"""Run one step: :func:`run_step` and the :class:`StepOutcome` it returns.

Order inside the step process: an IPython shell over a fresh ``__main__``; the prelude
(imports, then functions cells); carried process-global state; parameters; input variables
(after the prelude, so a step's ``e = 5`` shadows ``from math import *``); the step's cells,
capturing each cell's outputs; then outputs, the state snapshot, metrics, and the executed
step notebook / HTML report (the phases are :class:`.step_run.StepRun`'s).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepOutcome:
    """What a successful step produced."""

    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # variable -> sha256 digest
    seconds: float = 0.0
    notebook_path: str | None = None
    report_path: str | None = None
    observed: list[dict[str, Any]] = field(default_factory=list)  # undeclared writes
    # RNG kinds the step changed or drew from (runtime/state_watch.py).
    state_observed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "outputs": self.outputs,
            "seconds": round(self.seconds, 6),
            "notebook_path": self.notebook_path,
            "report_path": self.report_path,
            "observed": self.observed,
            "state_observed": self.state_observed,
        }


def run_step(
    spec: dict[str, Any],
    *,
    inputs: dict[str, str],
    state_inputs: dict[str, str],
    outputs: dict[str, str],
    state_output: str | None,
    parameters: dict[str, Any],
    report_path: str | None = None,
    notebook_path: str | None = None,
    observe_dir: str | None = None,
    workspace_inputs: Sequence[str] = (),
    workspace_output: str | None = None,
    isolate: bool = False,
) -> StepOutcome:
    """Run one step described by ``spec`` (see :mod:`kale_like.runtime.spec`).

    ``workspace_inputs`` are upstream ``workspace`` artifacts (topological order) restored
    into the working directory first; ``workspace_output`` receives the files the step's
    cells create, change or delete; ``isolate`` runs in a private working directory seeded
    like a container's (KFP components). See :mod:`kale_like.runtime.workspace`.
    """
    from . import state
    from .execute import CellRunner
    from .step_run import StepRun
    from .workspace import StepWorkspace

    start = time.perf_counter()
    # User code may chdir: every path the engine gave is fixed now.
    inputs = {k: os.path.abspath(v) for k, v in inputs.items()}
    state_inputs = {k: os.path.abspath(v) for k, v in state_inputs.items()}
    outputs = {k: os.path.abspath(v) for k, v in outputs.items()}
    state_output = os.path.abspath(state_output) if state_output else None
    report_path = os.path.abspath(report_path) if report_path else None
    notebook_path = os.path.abspath(notebook_path) if notebook_path else None
    workspace = StepWorkspace(spec["step"], workspace_inputs, workspace_output, isolate)
    workspace.open()  # before the runner: its baseline cwd is the step's working directory
    try:
        runner = CellRunner()
    except BaseException:
        workspace.close()
        raise
    base = state.baseline()  # after the runner's own set-up (e.g. MPLBACKEND)
    step = StepRun(spec, runner, parameters, report_path, notebook_path)
    try:
        state.seed_from_env()  # verify: the same start as its top-to-bottom run
        step.prelude()
        step.receive(state_inputs, inputs)
        facts = step.cells(workspace, observe_dir)
        saved = step.save(outputs, state_output, observe_dir, base)
        return StepOutcome(
            metrics=saved.metrics,
            outputs=saved.digests,
            seconds=time.perf_counter() - start,
            notebook_path=notebook_path,
            report_path=report_path if spec.get("report", True) else None,
            observed=[w.to_json() for w in saved.observed],
            state_observed=[f.to_json() for f in facts],
        )
    finally:
        runner.close()
        workspace.close()
