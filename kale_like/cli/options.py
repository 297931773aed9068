"""Arguments and output helpers shared by the ``kale-like`` subcommands.

One definition per option family, so the same flag reads and parses the same way in
every command; the help text of a flag may differ per command and is passed in.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

NOTEBOOK_HELP = "the tagged .ipynb file"
PARAMETER_METAVAR = ("NAME", "VALUE")


def add_command(
    sub: Any, name: str, *, help: str, description: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand parser; an epilog (examples, exit codes) is printed as written."""
    extra: dict[str, Any] = {}
    if epilog is not None:
        extra = {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, **extra
    )
    return parser


def add_notebook_argument(parser: argparse.ArgumentParser, help: str = NOTEBOOK_HELP) -> None:
    parser.add_argument("notebook", help=help)


def add_pipeline_options(parser: argparse.ArgumentParser, *, base_image_help: str) -> None:
    """``--name/--experiment/--description/--base-image``: overrides of the notebook metadata."""
    parser.add_argument("--name", help="pipeline name (overrides the notebook metadata)")
    parser.add_argument("--experiment", help="experiment name (overrides the notebook metadata)")
    parser.add_argument("--description", help="pipeline description")
    parser.add_argument("--base-image", metavar="IMAGE", help=base_image_help)


def pipeline_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`kale_like.api.analysis.load_pipeline` from those options."""
    return {
        "pipeline_name": args.name,
        "experiment": args.experiment,
        "description": args.description,
        "base_image": args.base_image,
    }


def add_parameter_options(
    parser: argparse.ArgumentParser,
    *,
    help: str,
    flag: str = "--parameter",
    raw: bool = False,
    files: str | None = None,
    yaml: bool = False,
) -> None:
    """Papermill-style parameters: ``-p NAME VALUE`` and, when asked, ``-r``, ``-f``, ``-y``.

    ``files`` is the help text of ``-f/--parameters-file`` (no ``-f`` when None).
    """
    parser.add_argument(
        "-p", flag, nargs=2, action="append", default=[], metavar=PARAMETER_METAVAR, help=help
    )
    if raw:
        parser.add_argument(
            "-r",
            "--parameters-raw",
            nargs=2,
            action="append",
            default=[],
            metavar=PARAMETER_METAVAR,
            help="set a parameter to a raw string (repeatable)",
        )
    if files is not None:
        parser.add_argument(
            "-f", "--parameters-file", action="append", default=[], metavar="FILE", help=files
        )
    if yaml:
        parser.add_argument(
            "-y",
            "--parameters-yaml",
            action="append",
            default=[],
            metavar="YAML",
            help="YAML string of parameter values (repeatable)",
        )


def add_kfp_options(parser: argparse.ArgumentParser) -> None:
    """Endpoint and credentials of Kubeflow Pipelines (``deploy``, ``runs --remote``)."""
    g = parser.add_argument_group("Kubeflow Pipelines endpoint")
    g.add_argument("--host", help="KFP API URL, e.g. https://kubeflow.example.com/pipeline")
    g.add_argument("--namespace", help="Kubernetes namespace (multi-user Kubeflow profile)")
    g.add_argument("--token-file", metavar="FILE", help="file holding a bearer token")


def kfp_connection(args: argparse.Namespace) -> dict[str, Any]:
    """``host``/``namespace``/``token_file`` keyword arguments from :func:`add_kfp_options`."""
    return {
        "host": getattr(args, "host", None),
        "namespace": getattr(args, "namespace", None),
        "token_file": getattr(args, "token_file", None),
    }


def add_json_option(
    parser: argparse.ArgumentParser, help: str = "print the result as JSON"
) -> None:
    parser.add_argument("--json", action="store_true", help=help)


def print_json(data: Any, **dumps: Any) -> None:
    """``data`` as indented strict JSON on stdout (NaN/Infinity -> null; ``dumps``: extra
    :func:`json.dumps` options)."""
    from ..jsonsafe import dumps as strict_dumps

    print(strict_dumps(data, indent=2, **dumps))


def print_diagnostics(
    diagnostics: Iterable[Any], notebook: str, severities: tuple[str, ...] = ("warning",)
) -> None:
    """Diagnostics of the given severities on stderr, located in ``notebook``."""
    for diag in diagnostics:
        if diag.severity in severities:
            print(diag.format(notebook), file=sys.stderr)


def print_error(command: str, message: str) -> None:
    """``kale-like COMMAND: message`` on stderr."""
    print(f"kale-like {command}: {message}", file=sys.stderr)


def to_stderr(line: str) -> None:
    """Progress callback: one line on stderr, flushed at once."""
    print(line, file=sys.stderr, flush=True)
