"""The two special cells: pipeline parameters (literals only) and metrics (print lines)."""

from __future__ import annotations

import ast
from typing import Any

from ..errors import AnalysisError
from ..model import Parameter
from .parse import parse_cell


def param_type(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    for t, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, t):
            return name
    raise TypeError(type(value).__name__)


def parse_parameters(source: str, cell: int | None, tag: str) -> list[Parameter]:
    """``NAME = literal`` lines -> parameters; anything else is ``bad-parameters``."""
    module = _parse(source, cell, tag, "bad-parameters")
    params: list[Parameter] = []
    for stmt in module.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a docstring-like comment
        if not isinstance(target, ast.Name) or value is None:
            raise _bad_param(stmt, cell, tag, "only `NAME = literal` lines are allowed")
        try:
            literal = ast.literal_eval(value)
            kind = param_type(literal)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise _bad_param(
                stmt,
                cell,
                tag,
                f"the value of {target.id!r} is not a literal (int, float, str, bool, None,"
                " list or dict)",
            ) from None
        params.append(Parameter(target.id, literal, kind, cell, stmt.lineno))
    return params


def _bad_param(stmt: ast.stmt, cell: int | None, tag: str, why: str) -> AnalysisError:
    return AnalysisError(
        f"bad parameters cell: {why}",
        kind="bad-parameters",
        cell=cell,
        line=stmt.lineno,
        tag=tag,
        fix="compute derived values in a step; the parameters cell holds literal defaults only",
    )


def parse_metrics(source: str, cell: int | None, tag: str) -> list[tuple[str, int]]:
    """``print(name)`` lines -> [(name, line)]; anything else is ``bad-metrics``."""
    module = _parse(source, cell, tag, "bad-metrics")
    names: list[tuple[str, int]] = []
    for stmt in module.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "print"
            and len(call.args) == 1
            and not call.keywords
            and isinstance(call.args[0], ast.Name)
        ):
            raise AnalysisError(
                "bad metrics cell: only `print(name)` lines are allowed",
                kind="bad-metrics",
                cell=cell,
                line=stmt.lineno,
                tag=tag,
                fix="compute the value in a step, then print(name) it in the metrics cell",
            )
        names.append((call.args[0].id, stmt.lineno))
    return names


def _parse(source: str, cell: int | None, tag: str, kind: str) -> ast.Module:
    try:
        return ast.parse(source.replace("\r\n", "\n"))
    except (SyntaxError, ValueError):
        # Magics are not allowed here either; report the syntax problem as such.
        module = parse_cell(source, cell, tag)
        first = module.body[0] if module.body else None
        raise AnalysisError(
            f"{tag} cell must be plain Python",
            kind=kind,
            cell=cell,
            line=getattr(first, "lineno", 1),
            tag=tag,
        ) from None
