"""The phases of one step's run, in order: prelude, received values, cells, saved results.

:func:`kale_like.runtime.run_step` fixes the paths, opens the working directory and the
cell runner, then drives a :class:`StepRun` through its phases.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import cell_label
from . import artifacts, marshal, marshal_io, observe, observe_prelude, state, state_watch
from .execute import CellResult, CellRunner
from .failure import StepFailed
from .workspace import StepWorkspace


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Runtime work with warnings ignored (and the user's filters restored afterwards)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def plain(value: Any) -> Any:
    """numpy scalars become Python numbers so metrics are JSON-able."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def unbound_name(exc_type: str | None, message: str, absent: dict[str, str]) -> str | None:
    """The absent input a ``NameError`` is about, if any."""
    if exc_type not in ("NameError", "UnboundLocalError"):
        return None
    match = re.search(r"'(\w+)'", message)
    return match.group(1) if match and match.group(1) in absent else None


@dataclass
class Saved:
    """What the step left for later steps and for the engine."""

    digests: dict[str, str]
    metrics: dict[str, Any]
    observed: list[observe.Write]


@dataclass
class StepRun:
    """One step's run over an open cell runner; paths are absolute already."""

    spec: dict[str, Any]
    runner: CellRunner
    parameters: dict[str, Any]
    report_path: str | None
    notebook_path: str | None
    executed: list[tuple[str, CellResult]] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)  # unbound inputs -> producer

    def __post_init__(self) -> None:
        self.step: str = self.spec["step"]
        # Write detection (observe.py); the local engine gives observe_dir, others fail instead.
        on = observe.enabled()
        self.obs = observe.Observer(self.spec) if on and "writes" in self.spec else None
        self.watch = state_watch.StateWatch(self.spec) if on else None

    def finish_reports(self) -> None:
        """Write the executed step notebook and its HTML report, when asked for."""
        if self.report_path is None and self.notebook_path is None:
            return
        from . import step_notebook as report

        nb = report.notebook_json(self.spec, self.executed, self.parameters)
        if self.notebook_path is not None:
            report.write_notebook(self.notebook_path, nb)
        if self.report_path is not None and self.spec.get("report", True):
            report.write_html(self.report_path, nb)

    def run(self, role: str, cell: dict[str, Any]) -> None:
        """Run one cell; a failing cell writes the reports and raises :class:`StepFailed`."""
        res = self.runner.run(cell["index"], cell["source"])
        self.executed.append((role, res))
        if self.obs is not None and role == "step" and res.error is None:
            self.obs.after_cell(cell["index"], self.runner.ns)
        if self.watch is not None and role == "step":
            self.watch.after_cell(cell["index"])
        if res.error is None:
            return
        err = res.error
        self.finish_reports()
        message = f"{err.exc_type}: {err.message}"
        unbound = unbound_name(err.exc_type, err.message, self.absent)
        if unbound is not None:
            message += (
                f" (step {self.absent[unbound]!r} did not assign {unbound!r} in this run: "
                "it is assigned there only on some paths)"
            )
        raise StepFailed(
            f"step {self.step!r} failed in {cell_label(err.cell)}: {message}",
            step=self.step,
            cell=err.cell,
            exc_type=err.exc_type,
            traceback=err.traceback,
            variable=unbound,
            summary=message,
        )

    def prelude(self) -> None:
        """The imports, then the functions cells, whose definitions pickle by name."""
        ns = self.runner.ns
        prelude = self.spec.get("prelude", {})
        for cell in prelude.get("imports", []):
            self.run("imports", cell)
        before = dict(ns)
        for cell in prelude.get("functions", []):
            self.run("functions", cell)
        # Classes/functions the prelude defines exist in every step: pickle them by name.
        marshal.pickle_new_definitions(ns, before)
        if self.obs is not None:
            created = observe_prelude.created_names(
                [c["source"] for k in ("imports", "functions") for c in prelude.get(k, [])],
                self.runner.shell.transform_cell,
            )
            self.obs.prelude_done(ns, created)

    def receive(self, state_inputs: dict[str, str], inputs: dict[str, str]) -> None:
        """Carried process state, then parameters, then input variables."""
        ns = self.runner.ns
        marshal_io.bind_main(ns)  # notebook functions received by value live in this namespace
        state.apply_from(state_inputs)
        ns.update(self.parameters)
        # A step that rebinds a parameter passes it on as a variable, which then wins.
        with quiet():  # carried filters may turn library warnings into errors
            siblings: dict[str, Any] = {}
            known: dict[str, tuple[observe.DigestFn, str]] = {}
            loaded = artifacts.load_inputs(
                inputs, absent=self.absent, siblings=siblings, known=known
            )
            ns.update(observe_prelude.apply_patches(loaded, ns))
        if self.obs is not None:
            received = {p: ns[p] for p in self.parameters if p in ns}
            received.update({k: v for k, v in siblings.items() if k not in ns})
            received.update({k: ns[k] for k in loaded if k in ns})
            # A loaded value's saved digest stands for it before the cells: not hashed again.
            known = {k: d for k, d in known.items() if received.get(k) is loaded[k]}
            self.obs.start(ns, received, known)

    def cells(
        self, workspace: StepWorkspace, observe_dir: str | None
    ) -> list[state_watch.StateFact]:
        """The step's own cells; returns the process-state changes they made."""
        workspace.before_cells()
        if self.watch is not None:
            self.watch.begin(self.runner.ns)
        try:
            for cell in self.spec.get("cells", []):
                self.run("step", cell)
        finally:
            facts = self.watch.end(self.runner.ns) if self.watch is not None else []
        workspace.after_cells()
        if facts and observe_dir is None:
            last = self.spec["cells"][-1]["index"] if self.spec.get("cells") else None
            try:
                state_watch.check(self.step, facts, self.spec, last)
            except StepFailed:
                self.finish_reports()
                raise
        return facts

    def save(
        self,
        outputs: dict[str, str],
        state_output: str | None,
        observe_dir: str | None,
        base: dict[str, Any],
    ) -> Saved:
        """Outputs (absent ones recorded as such), observed writes, state, metrics, reports."""
        ns = self.runner.ns
        observed: list[observe.Write] = []
        extra: dict[str, Any] = {}
        if self.obs is not None:
            observed, extra, gone = observe.conclude(self.obs, self.step, ns, observe_dir)
            for v in gone:
                artifacts.save_absent(v, self.step, os.path.join(str(observe_dir), v))
        carry = self.spec.get("carry_environment", True) is not False
        snap = state.snapshot(base, carry) if state_output is not None else None
        # An output assigned only on a branch not taken stays unbound, as top to bottom:
        # recorded as absent, so only a consumer that reads it fails (with a NameError).
        bound = {v: p for v, p in outputs.items() if v in ns}
        with quiet():
            digests = self._save_values(bound, extra, observe_dir)
            for v, p in outputs.items():
                if v not in bound:
                    digests[v] = artifacts.save_absent(v, self.step, p)
            if state_output is not None and snap is not None:
                state.save(state_output, snap)
            metrics = {m: plain(ns[m]) for m in self.spec.get("metrics", []) if m in ns}
            self.finish_reports()
        return Saved(digests, metrics, observed)

    def _save_values(
        self, bound: dict[str, str], extra: dict[str, Any], observe_dir: str | None
    ) -> dict[str, str]:
        ns = self.runner.ns
        try:
            values = {v: observe.declared_prelude_output(self.obs, v, ns[v]) for v in bound}
            values.update({v: x for v, x in extra.items() if v not in values})
            paths = {**{v: os.path.join(str(observe_dir), v) for v in extra}, **bound}
            return artifacts.save_outputs(values, paths)
        except artifacts.SaveError as exc:
            self.finish_reports()
            raise StepFailed(
                f"step {self.step!r} cannot save variable {exc.variable!r} of type "
                f"{exc.type_name} for later steps: {exc.reason}",
                step=self.step,
                variable=exc.variable,
                kind="unsaveable-value",
                fix=exc.fix,
                exc_type=exc.type_name,
            ) from exc
