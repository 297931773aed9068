"""An ipywidgets deploy panel for any Jupyter front end (classic notebook, VS Code, lab):

    from kale_like.widgets import DeployPanel
    DeployPanel("notebook.ipynb")

Run locally (with parameters), compile, and sweep, with per-step progress and metrics.
Everything goes through ``kale_like.api``; the work runs in a background thread so the
front end stays responsive.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

from . import api
from .errors import KaleError, cell_label
from .run_results import RunEvent

_STATUS_COLOURS = {
    "pending": "#757575",
    "running": "#e65100",
    "cached": "#0277bd",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#757575",
}


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        from .errors import missing_extra

        raise missing_extra("ipywidgets", "lab", "the deploy panel") from None
    return ipywidgets


def steps_table(steps: dict[str, dict[str, Any]]) -> str:
    """Per-step status and elapsed time as an HTML table (pure, escaped)."""
    rows = []
    for name, st in steps.items():
        status = str(st.get("status", "pending"))
        colour = _STATUS_COLOURS.get(status, "#000")
        rows.append(
            f"<tr><td>{html.escape(name)}</td>"
            f'<td style="color:{colour}">{html.escape(status)}</td>'
            f"<td>{float(st.get('seconds', 0.0)):.1f} s</td></tr>"
        )
    return (
        '<table class="kale-widget-steps"><tr><th>Step</th><th>Status</th><th>Time</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def default_output_dir(notebook: Path) -> Path:
    """``<notebook folder>/<stem>_pipeline``: where the JupyterLab panel compiles to."""
    return notebook.parent / f"{notebook.stem}_pipeline"


def trials_html(data: dict[str, Any]) -> str:
    """The sweep's trials (one column per parameter) and the best trial, as HTML tables."""
    trials = data.get("trials") or []
    names = list(dict.fromkeys(n for t in trials for n in (t.get("parameters") or {})))
    best: dict[str, Any] = data.get("best") or {}
    objective = data.get("objective") or {}
    metric = html.escape(str(objective.get("metric") or "objective"))

    def cell(value: Any) -> str:
        return f"<td>{html.escape('—' if value is None else str(value))}</td>"

    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for i, t in enumerate(trials):
        is_best = bool(best) and t.get("number", i) == best.get("number", -1)
        style = ' style="font-weight:600;background:#e8f5e9"' if is_best else ""
        params = t.get("parameters") or {}
        rows.append(
            f"<tr{style}>{cell(t.get('number', i))}"
            + "".join(cell(params.get(n)) for n in names)
            + cell(t.get("objective"))
            + cell(t.get("status"))
            + "</tr>"
        )
    out = (
        '<table class="kale-widget-trials"><tr><th>#</th>'
        f"{head}<th>{metric}</th><th>status</th></tr>{''.join(rows)}</table>"
    )
    if best:
        params = best.get("parameters") or {}
        best_rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th>{cell(v)}</tr>" for k, v in params.items()
        )
        out += (
            f"<p><b>Best trial</b> ({html.escape(str(objective.get('direction') or ''))}"
            f" {metric})</p>"
            f'<table class="kale-widget-best">{best_rows}'
            f"<tr><th>{metric}</th>{cell(best.get('objective'))}</tr></table>"
        )
    return out


def metrics_html(metrics: dict[str, Any]) -> str:
    items = "".join(
        f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in metrics.items()
    )
    return f"<ul>{items}</ul>" if items else ""


class DeployPanel:
    """Run/compile/sweep buttons, parameters, per-step progress and metrics for a notebook."""

    def __init__(
        self,
        notebook: str | Path,
        *,
        run_root: str | Path | None = None,
        output_dir: str | Path | None = None,
    ) -> None:
        w = _widgets()
        self.notebook = Path(notebook)
        self.run_root = run_root
        # The JupyterLab panel's folder too (server compile): one place for compiled files.
        self.output_dir = Path(output_dir) if output_dir else default_output_dir(self.notebook)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._steps: dict[str, dict[str, Any]] = {}
        self.result: Any = None

        self.status = w.HTML(value="")
        self.status.add_class("kale-widget-status")
        self.progress = w.HTML(value="")
        self.metrics = w.HTML(value="")
        self.metrics.add_class("kale-widget-metrics")
        self.params: dict[str, Any] = {}
        self.sweep_specs: dict[str, Any] = {}
        self.objective = w.Dropdown(description="Objective", options=[])
        self.direction = w.Dropdown(
            description="Direction", options=["maximize", "minimize"], value="maximize"
        )
        self.algorithm = w.Dropdown(
            description="Algorithm", options=["grid", "random", "tpe"], value="grid"
        )
        self.trials = w.BoundedIntText(value=4, min=1, max=1000, description="Trials")
        param_rows = self._parameter_widgets(w)

        self.run_button = w.Button(
            description="Run locally",
            button_style="primary",
            tooltip="Run the pipeline with the local engine",
        )
        self.compile_button = w.Button(description="Compile", tooltip="Write the KFP DSL and YAML")
        self.sweep_button = w.Button(description="Sweep", tooltip="Sweep the parameters")
        self.run_button.on_click(lambda _: self.run())
        self.compile_button.on_click(lambda _: self.compile())
        self.sweep_button.on_click(lambda _: self.sweep())
        buttons = w.HBox([self.run_button, self.compile_button, self.sweep_button])
        title = w.HTML(value=f"<b>Pipeline</b> <code>{html.escape(str(self.notebook))}</code>")
        self.widget = w.VBox(
            [title, *param_rows, buttons, self.status, self.progress, self.metrics]
        )
        self.widget.add_class("kale-widget")

    # -- building -------------------------------------------------------------------------
    def _parameter_widgets(self, w: Any) -> list[Any]:
        try:
            analysis = api.analyze(str(self.notebook))
        except KaleError as exc:
            self._show_error(exc)
            return []
        rows = []
        for name, info in analysis["pipeline"]["parameters"].items():
            default = info.get("default")
            self.params[name] = w.Text(value=repr(default), description=name)
            self.sweep_specs[name] = w.Text(
                value="", placeholder="choice:a,b · range:1:10:1", description="sweep"
            )
            rows.append(w.HBox([self.params[name], self.sweep_specs[name]]))
        metrics = list(analysis["pipeline"]["metrics"])
        self.objective.options = metrics
        self.objective.value = metrics[0] if metrics else None
        if rows:
            rows.append(w.HBox([self.objective, self.direction]))
            rows.append(w.HBox([self.algorithm, self.trials]))
        return rows

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- state ----------------------------------------------------------------------------
    def _parameters(self) -> dict[str, Any]:
        """Parameter values as typed by the user (Python literals; strings kept as text)."""
        import ast

        out: dict[str, Any] = {}
        for name, box in self.params.items():
            text = box.value.strip()
            try:
                out[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[name] = text
        return out

    def _set_status(self, text: str, colour: str = "#000") -> None:
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _show_error(self, exc: BaseException) -> None:
        where = ""
        if isinstance(exc, KaleError) and exc.cell is not None:
            where = f" ({cell_label(exc.cell)})"
        self._set_status(f"failed{where}: {exc}", _STATUS_COLOURS["failed"])

    def _on_event(self, event: RunEvent) -> None:
        if event.step is None:
            return
        with self._lock:
            self._steps[event.step] = {"status": event.status, "seconds": event.seconds}
            self.progress.value = steps_table(self._steps)

    def _start(self, label: str, work: Any, wait: bool) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._set_status(f"busy: wait for the current job before {label}")
            return
        self._steps = {}
        self.progress.value = ""
        self.metrics.value = ""
        self._set_status(f"{label}: running…", _STATUS_COLOURS["running"])
        started = time.time()

        def target() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - shown in the panel, never lost
                self._show_error(exc)
            else:
                if not self.status.value.startswith('<span style="color:#c62828'):
                    self._set_status(
                        f"{label}: succeeded in {time.time() - started:.1f} s",
                        _STATUS_COLOURS["succeeded"],
                    )

        self._thread = threading.Thread(target=target, name=f"kale-like-{label}", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()

    # -- actions --------------------------------------------------------------------------
    def run(self, wait: bool = False) -> None:
        """Run the notebook with the local engine."""

        def work() -> None:
            result = api.run(
                str(self.notebook),
                parameters=self._parameters(),
                progress=self._on_event,
                run_root=self.run_root,
            )
            self.result = result
            self._steps = {n: s.to_json() for n, s in result.steps.items()}
            self.progress.value = steps_table(self._steps)
            self.metrics.value = metrics_html(result.metrics)
            if result.status != "succeeded":
                failed = result.failed_step
                detail = f" in step {failed.name}: {failed.error}" if failed else ""
                where = (
                    f" ({cell_label(failed.cell)})" if failed and failed.cell is not None else ""
                )
                self._set_status(f"run {result.status}{detail}{where}", _STATUS_COLOURS["failed"])

        self._start("run", work, wait)

    def compile(self, wait: bool = False) -> None:
        """Compile to ``<notebook>_pipeline/`` next to the notebook (DSL + IR YAML), as the
        JupyterLab panel does."""

        def work() -> None:
            result = api.compile(str(self.notebook), self.output_dir)
            self.result = result
            self.metrics.value = (
                f"DSL: <code>{html.escape(str(result.dsl_path))}</code><br>"
                f"YAML: <code>{html.escape(str(result.yaml_path))}</code>"
            )

        self._start("compile", work, wait)

    def sweep(self, wait: bool = False) -> None:
        """Sweep the parameters with a non-empty spec, optimizing the chosen metric; the
        other parameters keep the values typed in their fields."""
        from .sweep.options import Budget

        space = {n: box.value.strip() for n, box in self.sweep_specs.items() if box.value.strip()}
        fixed = {n: v for n, v in self._parameters().items() if n not in space}

        def work() -> None:
            if not space:
                raise KaleError("give a sweep spec for at least one parameter", kind="usage")
            result = api.sweep(
                str(self.notebook),
                params=space,
                objective=self.objective.value or None,
                maximize=self.direction.value == "maximize",
                algorithm=self.algorithm.value,
                # a grid runs every point once; the trial count is for sampled searches
                budget=Budget(trials=None if self.algorithm.value == "grid" else self.trials.value),
                parameters=fixed or None,
                run_root=self.run_root,
            )
            self.result = result
            self.metrics.value = trials_html(result.to_json())

        self._start("sweep", work, wait)
