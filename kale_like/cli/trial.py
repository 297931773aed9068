"""``kale-like trial``: one Katib trial — submit the compiled pipeline, wait, print metrics.

Katib's StdOut metrics collector reads ``name=value`` lines from the trial container, so
metrics go to stdout one per line and everything else goes to stderr. Katib passes every
parameter as text; values are typed from the pipeline's own input definitions.

KFP's REST API reports run and task states but not metric values (they live in ML
Metadata), so the values come from a *metrics reader*: by default the run's
``system.Metrics`` artifacts read from MLMD's gRPC-web endpoint (``--mlmd-host``, see
:mod:`kale_like.backends.mlmd`), or any callable ``reader(remote, snapshot) -> {metric:
value}`` named by ``--metrics-reader MODULE:FUNCTION`` or ``$KALE_LIKE_METRICS_READER``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, EXIT_RUN_FAILED, UsageError

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


def register(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name,
        help="run one sweep trial on Kubeflow and print metric=value lines",
        description="Submit a compiled pipeline (IR YAML) to Kubeflow Pipelines with the given "
        "parameters, wait for it, and print its metrics as name=value lines (for Katib).",
    )
    p.add_argument("pipeline", help="the compiled pipeline YAML (kale-like compile)")
    p.add_argument("--host", required=True, help="KFP API endpoint")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a pipeline parameter for this trial (repeatable)",
    )
    p.add_argument("--metrics", default="", help="comma-separated metrics to print (default all)")
    p.add_argument("--experiment", help="KFP experiment of the run")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the run")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status polls")
    p.add_argument(
        "--metrics-reader",
        metavar="MODULE:FUNCTION",
        help=f"where metric values come from (default ${READER_ENV}, else ML Metadata)",
    )
    p.add_argument(
        "--mlmd-host",
        help="ML Metadata gRPC-web URL (default $KALE_LIKE_MLMD_HOST, else the in-cluster "
        "metadata-envoy service)",
    )
    p.set_defaults(func=main)


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


def parameters_from(args: argparse.Namespace, types: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in args.parameter:
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


def _metric_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def main(args: argparse.Namespace) -> int:
    from ..api.deploy import submit_and_wait

    path = Path(args.pipeline)
    parameters = parameters_from(args, input_types(path))
    wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
    reader = load_reader(args.metrics_reader)
    if reader is None:
        from ..backends import mlmd

        reader = mlmd.reader(args.mlmd_host)
    kwargs: dict[str, Any] = {"host": args.host, "poll": args.poll, "metrics_reader": reader}
    if args.experiment:
        kwargs["experiment"] = args.experiment
    if args.timeout is not None:
        kwargs["timeout"] = args.timeout
    result = submit_and_wait(path, parameters, **kwargs)
    status = str(getattr(result, "status", "")).lower()
    metrics = dict(getattr(result, "metrics", {}) or {})
    names = wanted or sorted(metrics)
    missing = [m for m in names if m not in metrics]
    for name in names:
        if name in metrics:
            print(f"{name}={_metric_text(metrics[name])}", flush=True)
    if status != "succeeded":
        print(f"kale-like trial: the run ended {status or 'without a status'}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if missing:
        print(
            f"kale-like trial: the run reported no value for {', '.join(missing)}",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED
    return EXIT_OK
