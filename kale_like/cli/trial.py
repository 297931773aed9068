"""``kale-like trial``: one Katib trial — submit the compiled pipeline, wait, print metrics.

Katib's StdOut metrics collector reads ``name=value`` lines from the trial container, so
metrics go to stdout one per line and everything else goes to stderr (see
:mod:`kale_like.api.trial`).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import EXIT_OK, EXIT_RUN_FAILED
from . import options


def register(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name,
        help="run one sweep trial on Kubeflow and print metric=value lines",
        description="Submit a compiled pipeline (IR YAML) to Kubeflow Pipelines with the given "
        "parameters, wait for it, and print its metrics as name=value lines (for Katib).",
        epilog="""examples:
  kale-like trial out/train.yaml --host http://ml-pipeline.kubeflow:8888 -p lr 0.01
  kale-like trial out/train.yaml --host http://127.0.0.1:8080 -p depth 5 --metrics accuracy
exit codes: 0 succeeded, 1 run failed, 2 bad input, 3 cluster unreachable""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pipeline", help="the compiled pipeline YAML (kale-like compile)")
    p.add_argument("--host", required=True, help="KFP API endpoint")
    options.add_parameter_options(p, help="a pipeline parameter for this trial (repeatable)")
    p.add_argument("--metrics", default="", help="comma-separated metrics to print (default all)")
    p.add_argument("--experiment", help="KFP experiment of the run")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the run")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status polls")
    p.add_argument(
        "--metrics-reader",
        metavar="MODULE:FUNCTION",
        help="where metric values come from (default $KALE_LIKE_METRICS_READER, else ML Metadata)",
    )
    p.add_argument(
        "--mlmd-host",
        help="ML Metadata gRPC-web URL (default $KALE_LIKE_MLMD_HOST, else the in-cluster "
        "metadata-envoy service)",
    )
    p.set_defaults(func=handle_trial)


def handle_trial(args: argparse.Namespace) -> int:
    from ..api.trials import metric_text, trial

    result = trial(
        args.pipeline,
        args.parameter,
        host=args.host,
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
        metrics_reader=args.metrics_reader,
        mlmd_host=args.mlmd_host,
        experiment=args.experiment,
        timeout=args.timeout,
        poll=args.poll,
    )
    for name, value in result.metrics.items():
        print(f"{name}={metric_text(value)}", flush=True)
    if result.status != "succeeded":
        options.print_error("trial", f"the run ended {result.status or 'without a status'}")
        return EXIT_RUN_FAILED
    if result.missing:
        options.print_error("trial", f"the run reported no value for {', '.join(result.missing)}")
        return EXIT_RUN_FAILED
    return EXIT_OK
