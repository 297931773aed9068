"""kale_like: tagged Jupyter notebook -> Kubeflow Pipelines v2 pipeline, run anywhere."""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic
from .errors import (
    AnalysisError,
    EnvironmentProblem,
    InputError,
    KaleError,
    NotebookError,
    RunFailed,
    TagError,
    UsageError,
)
from .model import Metric, Parameter, Pipeline, Prelude, Step, StepSettings
from .run_results import RunEvent, RunResult, StepResult

__version__ = "0.1.0"

_API = ("analyze", "compile", "load_pipeline", "run", "verify")

__all__ = [
    "AnalysisError",
    "Diagnostic",
    "EnvironmentProblem",
    "InputError",
    "KaleError",
    "Metric",
    "NotebookError",
    "Parameter",
    "Pipeline",
    "Prelude",
    "RunEvent",
    "RunFailed",
    "RunResult",
    "Step",
    "StepResult",
    "StepSettings",
    "TagError",
    "UsageError",
    "__version__",
    *_API,
]


def __getattr__(name: str) -> Any:
    # The verbs pull in KFP/IPython; import them only when used.
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'kale_like' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "kale_like.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "kale-like"}]
