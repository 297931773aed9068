"""Helpers for sweep tests: a hand-built linear pipeline and a fake local engine for it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kale_like.model import Metric, Parameter, Pipeline, Step
from kale_like.run_results import RunResult, StepResult


def linear_pipeline(**kw: Any) -> Pipeline:
    """The shape of corpus 01_linear: load(n) -> transform(scale) -> summarize(label)."""
    return Pipeline(
        name=kw.pop("name", "linear-demo"),
        steps=(
            Step(
                "load",
                (3,),
                ("data = list(range(1, n + 1))",),
                outputs=("data",),
                parameters=("n",),
            ),
            Step(
                "transform",
                (4,),
                ("scaled = [round(x * scale, 2) for x in data]",),
                after=("load",),
                inputs=(("data", "load"),),
                outputs=("scaled", "total"),
                parameters=("scale",),
                metrics=("total",),
            ),
            Step(
                "summarize",
                (5,),
                ("mean = round(total / len(scaled), 4)",),
                after=("transform",),
                inputs=(("total", "transform"), ("scaled", "transform")),
                outputs=("mean",),
                parameters=("label",),
                metrics=("mean",),
            ),
        ),
        parameters=(
            Parameter("n", 10, "int", 2, 1),
            Parameter("scale", 2.5, "float", 2, 2),
            Parameter("label", "linear", "str", 2, 3),
        ),
        metrics=(Metric("mean", "summarize"), Metric("total", "transform")),
        **kw,
    )


def linear_metrics(n: int, scale: float) -> dict[str, float]:
    """What a top-to-bottom run of 01_linear prints (same arithmetic as the notebook)."""
    scaled = [round(x * scale, 2) for x in range(1, n + 1)]
    total = round(sum(scaled), 2)
    return {"mean": round(total / len(scaled), 4), "total": total}


class FakeEngine:
    """Stands in for ``api.run.run``: computes 01_linear's metrics and mimics the cache
    (a step is cached when the parameters it reads were seen before under the same root)."""

    def __init__(self, fail_when: Any = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.executed: dict[str, int] = {}
        self.fail_when = fail_when or (lambda params: False)
        self._seen: set[tuple[str, str, tuple[Any, ...]]] = set()
        self._lock = threading.Lock()

    def __call__(
        self,
        notebook: Any,
        *,
        parameters: dict[str, Any],
        run_root: str,
        use_cache: bool = True,
        **_: Any,
    ) -> RunResult:
        values = {"n": 10, "scale": 2.5, "label": "linear", **parameters}
        self.calls.append(dict(values))
        reads = {"load": ("n",), "transform": ("n", "scale"), "summarize": ("n", "scale", "label")}
        steps: dict[str, StepResult] = {}
        failed = self.fail_when(values)
        for name, keys in reads.items():
            key = (str(run_root), name, tuple(values[k] for k in keys))
            with self._lock:
                hit = use_cache and key in self._seen
                if not hit and not (failed and name == "transform"):
                    self._seen.add(key)
                    self.executed[name] = self.executed.get(name, 0) + 1
            if failed and name == "transform":
                steps[name] = StepResult(name, "failed", error="ValueError: bad scale")
                steps["summarize"] = StepResult("summarize", "skipped")
                break
            steps[name] = StepResult(name, "cached" if hit else "succeeded")
        if failed:
            return RunResult(f"run-{len(self.calls)}", "failed", steps=steps, run_dir=str(run_root))
        metrics = linear_metrics(values["n"], values["scale"])
        return RunResult(
            f"run-{len(self.calls)}",
            "succeeded",
            metrics=metrics,
            steps=steps,
            parameters=values,
            run_dir=str(Path(run_root)),
        )
