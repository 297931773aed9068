"""Sweep results: trials, the best one, and the files of a sweep folder.

``<run_root>/sweeps/<sweep_id>/`` holds ``sweep.json`` (state, for ``--resume``),
``trials.csv``, ``trials.json``, ``best.json`` and ``plot.png``. Every file is written
atomically (temp file, then rename) so an interrupted sweep never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..fsutil import write_json_atomic, write_text_atomic

TrialStatus = Literal["succeeded", "failed", "cached"]
OK_STATUSES = ("succeeded", "cached")


@dataclass
class Trial:
    """One trial: a pipeline run with one assignment of the swept parameters."""

    number: int  # 0-based, in the order trials were proposed
    parameters: dict[str, Any]
    objective: float | None = None
    status: TrialStatus = "failed"
    seconds: float = 0.0
    run_id: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES and self.objective is not None

    def to_json(self) -> dict[str, Any]:
        """The public shape (``--json`` ``trials[]``)."""
        return {
            "parameters": dict(self.parameters),
            "objective": self.objective,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, for ``trials.json`` and the state file."""
        return {
            "number": self.number,
            **self.to_json(),
            "run_id": self.run_id,
            "error": self.error,
            "metrics": self.metrics,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Trial:
        return cls(
            number=int(data["number"]),
            parameters=dict(data["parameters"]),
            objective=data.get("objective"),
            status=data.get("status", "failed"),
            seconds=float(data.get("seconds", 0.0)),
            run_id=data.get("run_id"),
            error=data.get("error"),
            metrics=dict(data.get("metrics") or {}),
        )


@dataclass(frozen=True)
class SweepEvent:
    """Progress of a sweep: a trial started or finished (``trial`` is set when finished)."""

    sweep_id: str
    kind: Literal["started", "finished", "done"]
    number: int | None = None
    parameters: dict[str, Any] | None = None
    trial: Trial | None = None
    best: Trial | None = None
    total: int = 0
    finished: int = 0


SweepProgress = Callable[[SweepEvent], None]


@dataclass
class SweepResult:
    """A sweep (local: its trials; katib: the Experiment written or created)."""

    sweep_id: str
    metric: str
    direction: Literal["maximize", "minimize"]
    trials: list[Trial] = field(default_factory=list)
    status: str = "completed"  # completed | interrupted | max-failed | created | dry-run
    sweep_dir: str | None = None
    engine: str = "local"
    manifest_path: str | None = None
    manifest: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> Trial | None:
        return best_trial(self.trials, self.direction)

    def to_json(self) -> dict[str, Any]:
        """The stable ``kale-like sweep --json`` contract."""
        best = self.best
        out: dict[str, Any] = {
            "sweep_id": self.sweep_id,
            "objective": {"metric": self.metric, "direction": self.direction},
            "trials": [t.to_json() for t in sorted(self.trials, key=lambda t: t.number)],
            "best": None
            if best is None
            else {"parameters": dict(best.parameters), "objective": best.objective},
        }
        if self.engine == "katib":  # the panel shows the Experiment it wrote or created
            out.update(engine=self.engine, status=self.status, manifest_path=self.manifest_path)
        return out


def best_trial(trials: list[Trial], direction: str) -> Trial | None:
    """The best finished trial; ties go to the earliest trial."""
    ok = sorted((t for t in trials if t.ok), key=lambda t: t.number)
    if not ok:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(ok, key=lambda t: sign * float(t.objective))  # type: ignore[arg-type]


def objective_value(value: Any) -> float | None:
    """A metric value as a finite float, else None (a trial without a usable objective)."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- files ---------------------------------------------------------------------------


def trials_csv(trials: list[Trial], names: list[str], metric: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["trial", *names, metric, "status", "seconds", "run_id", "error"])
    for t in sorted(trials, key=lambda t: t.number):
        writer.writerow(
            [
                t.number,
                *(t.parameters.get(n, "") for n in names),
                "" if t.objective is None else repr(t.objective),
                t.status,
                f"{t.seconds:.3f}",
                t.run_id or "",
                t.error or "",
            ]
        )
    return buf.getvalue()


def write_results(result: SweepResult, sweep_dir: Path, names: list[str]) -> None:
    """``trials.csv``, ``trials.json``, ``best.json`` and ``plot.png`` (if matplotlib is there)."""
    write_text_atomic(sweep_dir / "trials.csv", trials_csv(result.trials, names, result.metric))
    write_json_atomic(
        sweep_dir / "trials.json",
        {
            "sweep_id": result.sweep_id,
            "objective": {"metric": result.metric, "direction": result.direction},
            "trials": [t.to_record() for t in sorted(result.trials, key=lambda t: t.number)],
        },
    )
    best = result.best
    write_json_atomic(
        sweep_dir / "best.json",
        None
        if best is None
        else {
            "parameters": best.parameters,
            "objective": best.objective,
            "trial": best.number,
            "run_id": best.run_id,
            "metrics": best.metrics,
        },
    )
    png = plot_png(result, names)
    if png is not None:
        write_text_atomic(sweep_dir / "plot.png", png)


def prewarm_plotting() -> None:
    """Import matplotlib (about a second) while trials run, so the final plot is quick."""

    def load() -> None:
        try:
            import matplotlib

            matplotlib.use("Agg", force=True)
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        except Exception:  # noqa: BLE001 - the plot is optional; plot_png reports nothing
            pass

    threading.Thread(target=load, name="kale-like-plot-import", daemon=True).start()


def _star(ax: Any, x: Any, y: Any, **kw: Any) -> None:
    """The best trial's marker: a gold star drawn over the other points."""
    ax.scatter([x], [y], marker="*", s=140, color="gold", edgecolors="black", zorder=3, **kw)


def plot_png(result: SweepResult, names: list[str]) -> bytes | None:
    """Objective per trial (with the best so far) and per parameter, as PNG bytes."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:  # the plot is a convenience; the CSV/JSON carry the data
        return None
    trials = sorted(result.trials, key=lambda t: t.number)
    ok = [t for t in trials if t.ok]
    panels = 1 + len(names)
    fig = Figure(figsize=(4.2 * panels, 3.4), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    ax.scatter([t.number for t in ok], [t.objective for t in ok], s=18, label="trial")
    failed = [t.number for t in trials if not t.ok]
    if failed and ok:
        lo = min(float(t.objective) for t in ok)  # type: ignore[arg-type]
        ax.scatter(failed, [lo] * len(failed), marker="x", color="red", label="failed")
    best_so_far: list[float] = []
    pick = max if result.direction == "maximize" else min
    for t in ok:
        val = float(t.objective)  # type: ignore[arg-type]
        best_so_far.append(val if not best_so_far else pick(best_so_far[-1], val))
    if ok:
        ax.step(
            [t.number for t in ok],
            best_so_far,
            where="post",
            color="black",
            lw=1,
            label=f"best ({result.direction})",
        )
    best = result.best
    if best is not None:
        _star(ax, best.number, best.objective, label="best")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.metric)
    ax.set_title("objective per trial")
    ax.legend(fontsize=7)
    for ax, name in zip(axes[1:], names, strict=True):
        xs: list[Any] = [t.parameters.get(name) for t in ok]
        ys: list[Any] = [t.objective for t in ok]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        if xs and numeric:
            ax.scatter(xs, ys, s=18)
            if min(xs) > 0 and max(xs) / min(xs) >= 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], ys, s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        if best is not None and xs:
            bx = best.parameters.get(name)
            pos = bx if numeric else sorted({str(x) for x in xs}).index(str(bx))
            _star(ax, pos, best.objective)
        ax.set_xlabel(name)
        ax.set_title(f"{result.metric} by {name}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()
