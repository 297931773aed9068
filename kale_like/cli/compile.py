"""``kale-like compile NB -o DIR``: write the KFP v2 DSL (.py) and IR (.yaml) of a notebook."""

from __future__ import annotations

import argparse
from typing import Any

from . import options

HELP = """examples:
  kale-like compile notebook.ipynb -o out/
  kale-like compile notebook.ipynb -o out/ --name my-pipeline --base-image python:3.11-slim
  python out/<pipeline>.py      # the DSL is standalone: rewrites out/<pipeline>.yaml
exit codes: 0 ok, 2 bad input (nothing written), 3 environment problem"""


def register(sub: Any, name: str) -> argparse.ArgumentParser:
    parser = options.add_command(
        sub,
        name,
        help="write the KFP v2 DSL (.py) and IR (.yaml) of a notebook",
        description="Compile a tagged notebook into a Kubeflow Pipelines v2 pipeline: "
        "OUTPUT/<pipeline>.py (readable DSL) and OUTPUT/<pipeline>.yaml (IR from kfp.compiler).",
        epilog=HELP,
    )
    options.add_notebook_argument(parser)
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    options.add_pipeline_options(
        parser, base_image_help="base image of steps without an image: tag"
    )
    parser.add_argument(
        "--images", action="store_true", help="build (or reuse) one image per step environment"
    )
    from .build import add_image_options

    add_image_options(parser, base_image=False)
    options.add_json_option(parser, help="print a JSON result")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..api.compile import compile as compile_notebook
    from .build import images_for_compile

    result = compile_notebook(
        args.notebook,
        args.output,
        images=images_for_compile(args),
        **options.pipeline_overrides(args),
    )
    options.print_diagnostics(result.pipeline.diagnostics, args.notebook)
    if args.json:
        options.print_json(result.to_json(), ensure_ascii=False)
    else:
        print(result.dsl_path)
        print(result.yaml_path)
    return 0
