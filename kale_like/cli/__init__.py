"""The ``kale-like`` command line: a thin shell over :mod:`kale_like.api`.

Each subcommand lives in its own module under ``kale_like.cli`` and exposes
``register(sub, name)`` and its handler ``handle_<command>(args) -> int``; modules are
imported only when their command runs, so ``kale-like compile`` does not pay for Docker,
papermill or the sweep code. The parser and the entry point live in :mod:`.main`.
"""

from __future__ import annotations

from .main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
