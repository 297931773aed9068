"""The walker's dispatch: a node goes to ``visit_<its ast class>``, statements and
expressions alike, so every handler must name one ast statement or expression class."""

from __future__ import annotations

import ast

from kale_like.analysis import Walker


def _subclasses(cls: type) -> set[str]:
    out, todo = set(), [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.add(sub.__name__)
            todo.append(sub)
    return out


def test_statement_and_expression_classes_never_share_a_name() -> None:
    assert not _subclasses(ast.stmt) & _subclasses(ast.expr)


def test_every_handler_names_a_statement_or_an_expression() -> None:
    names = {n.removeprefix("visit_") for n in dir(Walker) if n.startswith("visit_")}
    assert names, "no handlers found"
    known = _subclasses(ast.stmt) | _subclasses(ast.expr)
    assert names <= known, names - known
    assert {"Assign", "For", "Call", "Name", "ListComp"} <= names


def test_no_handler_under_the_old_prefixes() -> None:
    assert not [n for n in dir(Walker) if n.startswith(("s_", "e_"))]
