"""``kale-like``: the parser of every subcommand, and the entry point that dispatches to them.

Each command module registers its subparser with ``register(sub, name)`` and sets
``func=handle_<command>`` (``handle_<command>_<action>`` under a command with actions, such
as ``runs list``); :func:`main` calls ``args.func(args)`` and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from ..errors import KaleError

# command name -> (module, one-line help). Order is the order of `--help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("analyze", "show steps, data edges and diagnostics of a notebook"),
    "compile": ("compile", "write the KFP v2 DSL (.py) and IR (.yaml) of a notebook"),
    "run": ("run", "run the notebook as a pipeline (local engine by default)"),
    "verify": ("run", "run the notebook top to bottom and as a pipeline, and compare"),
    "runs": ("runs", "list or show past runs"),
    "suggest": ("suggest", "propose step tags for an untagged notebook from its data flow"),
    "build": ("build", "build (and push) one image per distinct step environment"),
    "deploy": ("deploy", "upload the pipeline to Kubeflow Pipelines and start a run"),
    "sweep": ("sweep", "hyperparameter sweep over the whole pipeline"),
    "trial": ("trial", "run one sweep trial on Kubeflow and print metric=value lines"),
}

EPILOG = """examples:
  kale-like analyze notebook.ipynb --format mermaid
  kale-like compile notebook.ipynb -o out/
  kale-like run notebook.ipynb -p alpha 0.5
exit codes: 0 ok, 1 run failed, 2 bad input, 3 environment problem"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kale-like",
        description="Tagged Jupyter notebook -> Kubeflow Pipelines v2 pipeline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            # Register a stub so `--help` lists every command without importing them all.
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(f".{module}", __package__)
        mod.register(sub, name)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"kale-like {version('kale-like')}"
    except PackageNotFoundError:  # running from a source tree
        return "kale-like (source)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KaleError as err:
        if getattr(args, "json", False):
            print(json.dumps(err.to_json(), indent=2, default=str))
        print(f"kale-like {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("kale-like: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # before OSError: it is one
        # `kale-like analyze nb | head`: the reader left. Silence the final flush too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell tool killed by the signal
    except OSError as exc:
        from pathlib import Path

        from ..fsutil import disk_full_error, is_disk_full

        if not is_disk_full(exc):
            raise
        # A full disk outside an engine (compile, sweep files): exit 3, never a traceback.
        name = exc.filename if isinstance(exc.filename, str) else None
        where = os.path.dirname(os.path.abspath(name)) if name else os.getcwd()
        full = disk_full_error(Path(where), "the output")
        print(f"kale-like {args.command}: {full}", file=sys.stderr)
        return full.exit_code
