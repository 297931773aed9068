"""``kale-like suggest NB``: propose step tags for an untagged (or partly tagged) notebook."""

from __future__ import annotations

import argparse
from typing import Any

from . import options

HELP = """examples:
  kale-like suggest notebook.ipynb                      # print the proposed DAG and why
  kale-like suggest notebook.ipynb --write tagged.ipynb # the tags, in a copy
  kale-like suggest notebook.ipynb --in-place           # the tags, in the notebook itself
  kale-like suggest notebook.ipynb --max-steps 5 --min-step-seconds 10
exit codes: 0 ok, 2 bad input (the notebook, its tags or the arguments)"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def register(sub: Any, name: str) -> argparse.ArgumentParser:
    parser = options.add_command(
        sub,
        name,
        help="propose step tags for an untagged notebook from its data flow",
        description="Propose a step split for an untagged (or partly tagged) notebook: "
        "boundaries where little data crosses, independent work as parallel branches, "
        "markdown headings as hints and step names, imports/functions/parameters cells "
        "recognised, existing tags kept. The proposal passes the same checks as a "
        "hand-tagged notebook. Nothing is written unless --write or --in-place is given.",
        epilog=HELP,
    )
    options.add_notebook_argument(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--write", metavar="OUT.ipynb", help="write a tagged copy to OUT.ipynb")
    where.add_argument(
        "--in-place",
        action="store_true",
        help="write the tags into the notebook itself (atomically)",
    )
    options.add_json_option(parser, help="print the proposal as JSON")
    parser.add_argument(
        "--max-steps", type=_count, default=12, metavar="N", help="at most N steps (default 12)"
    )
    parser.add_argument(
        "--min-step-seconds",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="merge steps shorter than S seconds (measured by an earlier local run, else "
        "estimated from the code; default 0)",
    )
    parser.add_argument(
        "--run-root",
        metavar="DIR",
        help="run root whose latest local run gives timings and value sizes (default: "
        ".kale_like beside the notebook, or $KALE_LIKE_RUN_ROOT)",
    )
    parser.set_defaults(func=handle_suggest)
    return parser


def handle_suggest(args: argparse.Namespace) -> int:
    from ..api.suggestions import suggest

    result = suggest(
        args.notebook,
        max_steps=args.max_steps,
        min_step_seconds=args.min_step_seconds,
        run_root=args.run_root,
        write=args.write,
        in_place=args.in_place,
    )
    if args.json:
        options.print_json(result.to_json(), ensure_ascii=False)
    else:
        print(result.to_text())
    return 0
