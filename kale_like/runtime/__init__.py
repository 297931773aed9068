"""What runs inside a step, in every engine: :func:`run_step`.

Order inside the step process: an IPython shell over a fresh ``__main__``; the prelude
(imports, then functions cells); carried process-global state; parameters; input variables
(after the prelude, so a step's ``e = 5`` shadows ``from math import *``); the step's cells,
capturing each cell's outputs; then outputs, the state snapshot, metrics, and the executed
step notebook / HTML report.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import cell_label
from .failure import StepFailed

__all__ = ["StepFailed", "StepOutcome", "run_step"]


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


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Runtime work with warnings ignored (and the user's filters restored afterwards)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _plain(value: Any) -> Any:
    """numpy scalars become Python numbers so metrics are JSON-able."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def _unbound_name(exc_type: str | None, message: str, absent: dict[str, str]) -> str | None:
    """The absent input a ``NameError`` is about, if any."""
    if exc_type not in ("NameError", "UnboundLocalError"):
        return None
    match = re.search(r"'(\w+)'", message)
    return match.group(1) if match and match.group(1) in absent else None


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
    from . import artifacts, marshal, observe, state, state_watch
    from .execute import CellResult, CellRunner
    from .workspace import StepWorkspace

    start = time.perf_counter()
    step = spec["step"]
    # User code may chdir: every path the engine gave is fixed now.
    inputs = {k: os.path.abspath(v) for k, v in inputs.items()}
    state_inputs = {k: os.path.abspath(v) for k, v in state_inputs.items()}
    outputs = {k: os.path.abspath(v) for k, v in outputs.items()}
    state_output = os.path.abspath(state_output) if state_output else None
    report_path = os.path.abspath(report_path) if report_path else None
    notebook_path = os.path.abspath(notebook_path) if notebook_path else None
    workspace = StepWorkspace(step, workspace_inputs, workspace_output, isolate)
    workspace.open()  # before the runner: its baseline cwd is the step's working directory
    try:
        runner = CellRunner()
    except BaseException:
        workspace.close()
        raise
    base = state.baseline()  # after the runner's own set-up (e.g. MPLBACKEND)
    executed: list[tuple[str, CellResult]] = []

    def finish_reports() -> None:
        if report_path is None and notebook_path is None:
            return
        from . import report

        nb = report.notebook_json(spec, executed, parameters)
        if notebook_path is not None:
            report.write_notebook(notebook_path, nb)
        if report_path is not None and spec.get("report", True):
            report.write_html(report_path, nb)

    absent: dict[str, str] = {}  # inputs their producer left unbound -> producer
    # Write detection (observe.py); the local engine gives observe_dir, others fail instead.
    obs = observe.Observer(spec) if observe.enabled() and "writes" in spec else None
    watch = state_watch.StateWatch(spec) if observe.enabled() else None

    def run(role: str, cell: dict[str, Any]) -> None:
        res = runner.run(cell["index"], cell["source"])
        executed.append((role, res))
        if obs is not None and role == "step" and res.error is None:
            obs.after_cell(cell["index"], runner.ns)
        if watch is not None and role == "step":
            watch.after_cell(cell["index"])
        if res.error is not None:
            err = res.error
            finish_reports()
            message = f"{err.exc_type}: {err.message}"
            unbound = _unbound_name(err.exc_type, err.message, absent)
            if unbound is not None:
                message += (
                    f" (step {absent[unbound]!r} did not assign {unbound!r} in this run: "
                    "it is assigned there only on some paths)"
                )
            raise StepFailed(
                f"step {step!r} failed in {cell_label(err.cell)}: {message}",
                step=step,
                cell=err.cell,
                exc_type=err.exc_type,
                traceback=err.traceback,
                variable=unbound,
                summary=message,
            )

    try:
        state.seed_from_env()  # verify: the same start as its top-to-bottom run
        prelude = spec.get("prelude", {})
        for cell in prelude.get("imports", []):
            run("imports", cell)
        before = dict(runner.ns)
        for cell in prelude.get("functions", []):
            run("functions", cell)
        # Classes/functions the prelude defines exist in every step: pickle them by name.
        marshal.pickle_new_definitions(runner.ns, before)
        if obs is not None:
            created = observe.created_names(
                [c["source"] for k in ("imports", "functions") for c in prelude.get(k, [])],
                runner.shell.transform_cell,
            )
            obs.prelude_done(runner.ns, created)
        state.apply_from(state_inputs)
        runner.ns.update(parameters)
        # A step that rebinds a parameter passes it on as a variable, which then wins.
        with _quiet():  # carried filters may turn library warnings into errors
            siblings: dict[str, Any] = {}
            known: dict[str, tuple[observe.DigestFn, str]] = {}
            loaded = artifacts.load_inputs(inputs, absent=absent, siblings=siblings, known=known)
            runner.ns.update(observe.apply_patches(loaded, runner.ns))
        if obs is not None:
            received = {p: runner.ns[p] for p in parameters if p in runner.ns}
            received.update({k: v for k, v in siblings.items() if k not in runner.ns})
            received.update({k: runner.ns[k] for k in loaded if k in runner.ns})
            # A loaded value's saved digest stands for it before the cells: not hashed again.
            known = {k: d for k, d in known.items() if received.get(k) is loaded[k]}
            obs.start(runner.ns, received, known)
        workspace.before_cells()
        if watch is not None:
            watch.begin(runner.ns)
        try:
            for cell in spec.get("cells", []):
                run("step", cell)
        finally:
            facts = watch.end(runner.ns) if watch is not None else []
        workspace.after_cells()
        if facts and observe_dir is None:
            last = spec["cells"][-1]["index"] if spec.get("cells") else None
            try:
                state_watch.check(step, facts, spec, last)
            except StepFailed:
                finish_reports()
                raise

        observed: list[observe.Write] = []
        extra: dict[str, Any] = {}
        if obs is not None:
            observed, extra, gone = observe.conclude(obs, step, runner.ns, observe_dir)
            for v in gone:
                artifacts.save_absent(v, step, os.path.join(str(observe_dir), v))
        carry = spec.get("carry_environment", True) is not False
        snap = state.snapshot(base, carry) if state_output is not None else None
        # An output assigned only on a branch not taken stays unbound, as top to bottom:
        # recorded as absent, so only a consumer that reads it fails (with a NameError).
        bound = {v: p for v, p in outputs.items() if v in runner.ns}
        with _quiet():
            try:
                values = {v: observe.declared_prelude_output(obs, v, runner.ns[v]) for v in bound}
                values.update({v: x for v, x in extra.items() if v not in values})
                paths = {**{v: os.path.join(str(observe_dir), v) for v in extra}, **bound}
                digests = artifacts.save_outputs(values, paths)
            except artifacts.SaveError as exc:
                finish_reports()
                raise StepFailed(
                    f"step {step!r} cannot save variable {exc.variable!r} of type "
                    f"{exc.type_name} for later steps: {exc.reason}",
                    step=step,
                    variable=exc.variable,
                    kind="unsaveable-value",
                    fix=exc.fix,
                    exc_type=exc.type_name,
                ) from exc
            for v, p in outputs.items():
                if v not in bound:
                    digests[v] = artifacts.save_absent(v, step, p)
            if state_output is not None and snap is not None:
                state.save(state_output, snap)
            metrics = {m: _plain(runner.ns[m]) for m in spec.get("metrics", []) if m in runner.ns}
            finish_reports()
        return StepOutcome(
            metrics=metrics,
            outputs=digests,
            seconds=time.perf_counter() - start,
            notebook_path=notebook_path,
            report_path=report_path if spec.get("report", True) else None,
            observed=[w.to_json() for w in observed],
            state_observed=[f.to_json() for f in facts],
        )
    finally:
        runner.close()
        workspace.close()
