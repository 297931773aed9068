"""What the generated DSL module says about the user's names, for KFP's refusals.

``set_display_name`` gives the step of a task, the ``run_step(inputs=..., outputs=...,
parameters=...)`` dicts give the user's name of each argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class DslMap:
    """What the generated module says about the user's names."""

    task_step: dict[str, str]  # task variable -> step
    function_step: dict[str, str]  # component function -> step
    args: dict[str, dict[str, tuple[str, str]]]  # function -> argument -> (kind, user name)
    pipeline_args: dict[str, str]  # pipeline parameter -> user name


def read_dsl_map(tree: Any) -> DslMap:
    import ast

    task_step: dict[str, str] = {}
    task_function: dict[str, str] = {}
    args: dict[str, dict[str, tuple[str, str]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name == "pipeline":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                    target, func = stmt.targets[0], stmt.value.func
                    if isinstance(target, ast.Name) and isinstance(func, ast.Name):
                        task_function[target.id] = func.id
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "set_display_name"
                    and isinstance(call.func.value, ast.Name)
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                ):
                    task_step[call.func.value.id] = str(call.args[0].value)
            continue
        args[node.name] = component_args(node)
    function_step = {task_function[t]: s for t, s in task_step.items() if t in task_function}
    pipeline_args = {
        arg: user
        for mapping in args.values()
        for arg, (kind, user) in mapping.items()
        if kind == "parameter"
    }
    return DslMap(task_step, function_step, args, pipeline_args)


def component_args(node: Any) -> dict[str, tuple[str, str]]:
    """Argument -> (kind, user name) from the ``run_step(...)`` call of a component body."""
    import ast

    kinds = {"inputs": "variable", "outputs": "variable", "parameters": "parameter"}
    found: dict[str, tuple[str, str]] = {}
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "run_step"):
            continue
        for kw in call.keywords:
            if kw.arg not in kinds or not isinstance(kw.value, ast.Dict):
                continue
            for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name)]
                arg = next((n for n in names if n != "json"), None)
                if isinstance(key, ast.Constant) and arg is not None:
                    found[arg] = (kinds[kw.arg], str(key.value))
    return found


def dsl_lineno(exc: BaseException, dsl_path: Path) -> int | None:
    """Line of the generated module KFP was executing when it raised (innermost frame)."""
    import traceback

    target = str(dsl_path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            same = str(Path(frame.filename).resolve()) == target
        except OSError:
            same = False
        if same:
            line = frame.lineno
    return line


def statement_at(tree: Any, lineno: int) -> Any:
    """The innermost statement spanning ``lineno``."""
    import ast

    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= lineno <= (node.end_lineno or 0):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best


def literals(call: Any) -> list[Any]:
    import ast

    values = [*call.args, *(kw.value for kw in call.keywords)]
    out = []
    for value in values:
        try:
            out.append(ast.literal_eval(value))
        except ValueError:
            out.append(None)
    return out


def step_of(stmt: Any, tree: Any, dsl: DslMap) -> str | None:
    """The step whose task call or component definition holds ``stmt``."""
    import ast

    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
        step = dsl.task_step.get(stmt.targets[0].id)
        if step:
            return step
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in dsl.function_step:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start <= stmt.lineno <= (node.end_lineno or 0):
                return dsl.function_step[node.name]
    return None
