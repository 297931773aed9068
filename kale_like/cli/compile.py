"""``kale-like compile NB -o DIR``: write the KFP v2 DSL (.py) and IR (.yaml) of a notebook."""

from __future__ import annotations

import argparse
from typing import Any

from . import options

HELP = """examples:
  kale-like compile notebook.ipynb -o out/
  kale-like compile notebook.ipynb -o out/ --name my-pipeline --base-image python:3.11-slim
  kale-like compile notebook.ipynb -o out/ --observe  # run locally first if the code is new
  python out/<pipeline>.py      # the DSL is standalone: rewrites out/<pipeline>.yaml
exit codes: 0 ok, 1 the --observe run failed (nothing written), 2 bad input (nothing
written), 3 environment problem"""


def add_observe_options(parser: argparse.ArgumentParser) -> None:
    """``--observe`` and the ``--run-root`` that keeps the observed facts."""
    parser.add_argument(
        "--observe",
        action="store_true",
        help="when no local run observed the current code, run the notebook locally once "
        "first, so writes the analysis cannot see (exec, globals(), state of prelude "
        "functions) become edges of the pipeline",
    )
    parser.add_argument(
        "--run-root",
        metavar="DIR",
        help="run root holding observed facts and the --observe run (default: .kale_like "
        "beside the notebook, or $KALE_LIKE_RUN_ROOT)",
    )


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
    add_observe_options(parser)
    options.add_json_option(parser, help="print a JSON result")
    parser.set_defaults(func=handle_compile)
    return parser


def handle_compile(args: argparse.Namespace) -> int:
    from ..api.compilation import compile as compile_notebook
    from .build import images_for_compile

    result = compile_notebook(
        args.notebook,
        args.output,
        images=images_for_compile(args),
        observe=args.observe,
        run_root=args.run_root,
        **options.pipeline_overrides(args),
    )
    options.print_diagnostics(result.pipeline.diagnostics, args.notebook)
    # The edges a local run observed are part of what was compiled: say so.
    observed = [d for d in result.pipeline.diagnostics if d.kind == "observed-write"]
    options.print_diagnostics(observed, args.notebook, ("info",))
    if args.json:
        options.print_json(result.to_json(), ensure_ascii=False)
    else:
        print(result.dsl_path)
        print(result.yaml_path)
    return 0
