"""Every ``kale-like`` command is dispatched the same way: ``args.func`` is ``handle_<command>``
(``handle_<command>_<action>`` under a command with actions) of the command's module."""

from __future__ import annotations

import argparse
import importlib
import sys

from kale_like.cli import COMMANDS, build_parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def test_every_command_is_handled_by_handle_command() -> None:
    commands = subparsers(build_parser())
    assert list(commands) == list(COMMANDS)
    for name, parser in commands.items():
        module = importlib.import_module(f"kale_like.cli.{COMMANDS[name][0]}")
        assert parser.get_default("func") is getattr(module, f"handle_{name}", None) or (
            name == "runs"  # bare `kale-like runs` lists
            and parser.get_default("func") is module.handle_runs_list
        ), name
        for action, sub in subparsers(parser).items():
            assert sub.get_default("func") is getattr(module, f"handle_{name}_{action}"), action


def test_the_console_script_is_the_main_function() -> None:
    import kale_like.cli.main  # the module beside the re-exported function of the same name

    assert callable(kale_like.cli.main)
    assert kale_like.cli.main is sys.modules["kale_like.cli.main"].main
