"""``kale-like compile NB -o DIR``: write the KFP v2 DSL (.py) and IR (.yaml) of a notebook."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = """examples:
  kale-like compile notebook.ipynb -o out/
  kale-like compile notebook.ipynb -o out/ --name my-pipeline --base-image python:3.11-slim
  python out/<pipeline>.py      # the DSL is standalone: rewrites out/<pipeline>.yaml
exit codes: 0 ok, 2 bad input (nothing written), 3 environment problem"""


def register(sub: Any, name: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help="write the KFP v2 DSL (.py) and IR (.yaml) of a notebook",
        description="Compile a tagged notebook into a Kubeflow Pipelines v2 pipeline: "
        "OUTPUT/<pipeline>.py (readable DSL) and OUTPUT/<pipeline>.yaml (IR from kfp.compiler).",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebook", help="the tagged .ipynb file")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    parser.add_argument("--name", help="pipeline name (overrides the notebook metadata)")
    parser.add_argument("--experiment", help="experiment name (overrides the notebook metadata)")
    parser.add_argument("--description", help="pipeline description")
    parser.add_argument(
        "--base-image", metavar="IMAGE", help="base image of steps without an image: tag"
    )
    parser.add_argument(
        "--images", action="store_true", help="build (or reuse) one image per step environment"
    )
    from .build import add_image_options

    add_image_options(parser, base_image=False)
    parser.add_argument("--json", action="store_true", help="print a JSON result")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..api.compile import compile as compile_notebook
    from .build import images_for_compile

    result = compile_notebook(
        args.notebook,
        args.output,
        pipeline_name=args.name,
        experiment=args.experiment,
        description=args.description,
        base_image=args.base_image,
        images=images_for_compile(args),
    )
    for diag in result.pipeline.diagnostics:
        if diag.severity == "warning":
            print(diag.format(args.notebook), file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(result.dsl_path)
        print(result.yaml_path)
    return 0
