"""One Katib trial: submit a compiled pipeline with text parameters, wait, collect metrics.

Katib passes every parameter as text; values are typed from the pipeline's own input
definitions. KFP's REST API reports run and task states but not metric values (they live
in ML Metadata), so the values come from a *metrics reader*: by default the run's
``system.Metrics`` artifacts read from MLMD's gRPC-web endpoint (see
:mod:`kale_like.kubeflow.mlmd`), or any callable ``reader(remote, snapshot) -> {metric:
value}`` named ``MODULE:FUNCTION`` (argument or ``$KALE_LIKE_METRICS_READER``).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

READER_ENV = "KALE_LIKE_METRICS_READER"

# KFP IR parameterType -> how to read Katib's text
_KFP_TYPES = {
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "STRING": "str",
    "LIST": "json",
    "STRUCT": "json",
}


@dataclass
class TrialResult:
    """The run's status, the metric values found, and the requested ones that were not."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    run_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and not self.missing


def input_types(pipeline_yaml: Path) -> dict[str, str]:
    """Pipeline parameter name -> int/float/bool/str/json, from the IR's root inputs."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(pipeline_yaml.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read the pipeline {str(pipeline_yaml)!r}: {exc}", kind="bad-pipeline"
        ) from None
    spec = docs[0] if docs and isinstance(docs[0], dict) else {}
    params = (spec.get("root") or {}).get("inputDefinitions", {}).get("parameters", {}) or {}
    return {name: _KFP_TYPES.get(str(d.get("parameterType")), "str") for name, d in params.items()}


def typed(name: str, text: str, kind: str) -> Any:
    """Katib's text value -> the pipeline's type, or UsageError naming the parameter."""
    try:
        if kind == "int":
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        if kind == "float":
            return float(text)
        if kind == "bool":
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return low in ("true", "1")
        if kind == "json":
            return json.loads(text)
    except ValueError:
        raise UsageError(
            f"parameter {name!r} expects {kind}, got {text!r}", kind="bad-parameter-value"
        ) from None
    return text


def parameters_from(pairs: Sequence[Sequence[str]], types: dict[str, str]) -> dict[str, Any]:
    """``[(NAME, TEXT)]`` -> typed values; an unknown name is UsageError listing the valid ones."""
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name not in types:
            valid = ", ".join(sorted(types)) or "none"
            raise UsageError(
                f"unknown parameter {name!r}; the pipeline's parameters: {valid}",
                kind="unknown-parameter",
            )
        out[name] = typed(name, text, types[name])
    return out


def load_reader(ref: str | None) -> Callable[[Any, Any], Any] | None:
    """``MODULE:FUNCTION`` -> the callable (None when no reader is configured)."""
    ref = ref or os.environ.get(READER_ENV)
    if not ref:
        return None
    module, sep, attr = ref.partition(":")
    try:
        if not sep:
            raise ImportError(ref)
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise UsageError(
            f"cannot load the metrics reader {ref!r}",
            kind="bad-metrics-reader",
            fix="name an importable callable as MODULE:FUNCTION",
        ) from None
    if not callable(fn):
        raise UsageError(f"metrics reader {ref!r} is not callable", kind="bad-metrics-reader")
    return fn


def metric_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def trial(
    pipeline_yaml: str | os.PathLike[str],
    parameters: Sequence[Sequence[str]] = (),
    *,
    host: str,
    metrics: Sequence[str] = (),
    metrics_reader: str | Callable[[Any, Any], Any] | None = None,
    mlmd_host: str | None = None,
    experiment: str | None = None,
    timeout: float | None = None,
    poll: float = 2.0,
    client: Any = None,
) -> TrialResult:
    """Run ``pipeline_yaml`` once on KFP with ``[(NAME, TEXT)]`` parameters; read ``metrics``
    (all the run reports when empty)."""
    from .deployment import submit_and_wait

    path = Path(pipeline_yaml)
    values = parameters_from(parameters, input_types(path))
    reader = metrics_reader if callable(metrics_reader) else load_reader(metrics_reader)
    if reader is None:
        from ..kubeflow import mlmd

        reader = mlmd.reader(mlmd_host)
    kwargs: dict[str, Any] = {"host": host, "poll": poll, "metrics_reader": reader}
    if experiment:
        kwargs["experiment"] = experiment
    if timeout is not None:
        kwargs["timeout"] = timeout
    if client is not None:
        kwargs["client"] = client
    result = submit_and_wait(path, values, **kwargs)
    found = dict(getattr(result, "metrics", {}) or {})
    names = list(metrics) or sorted(found)
    return TrialResult(
        status=str(getattr(result, "status", "")).lower(),
        metrics={n: found[n] for n in names if n in found},
        missing=[n for n in names if n not in found],
        run_id=str(getattr(result, "run_id", "")),
    )
