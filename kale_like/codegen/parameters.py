"""Pipeline parameters as KFP carries them: types, JSON-encoded values, pipeline arguments.

A parameter whose default is or holds None has no KFP type to carry it: it travels as a
string holding JSON, which the component decodes. :func:`kfp_arguments` turns values keyed
by the user's parameter names into the arguments a KFP run takes.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import TagError, UsageError
from ..model import Parameter, Pipeline
from .literals import check_literal
from .names import allocate_names

PY_TYPES = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "list": "list",
    "dict": "dict",
}
# A parameter whose default is None has no type to infer: KFP sees it as a string holding
# JSON ("null" by default) and the component decodes it, so any JSON value can be passed.
# (An Optional[...] = None input would do on a cluster, but kfp.local cannot run it.)
JSON_TYPE = "str"


def check_parameter(param: Parameter) -> None:
    """A TagError unless ``param`` has a supported type and a default the DSL can write."""
    if param.type != "none" and param.type not in PY_TYPES:
        raise TagError(
            f"parameter {param.name!r} has unsupported type {param.type!r}",
            kind="bad-parameters",
            cell=param.cell,
            line=param.line,
        )
    try:
        check_literal(param.default, f"parameter {param.name}")
    except ValueError as exc:
        raise TagError(str(exc), kind="bad-parameters", cell=param.cell, line=param.line) from exc


def _holds_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_none(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_none(v) for v in value)
    return value is None


def is_json_parameter(param: Parameter) -> bool:
    """Whether KFP carries this parameter as JSON text (its default is or holds None).

    KFP's list/dict parameter values cannot hold None, so ``[1, None]`` travels as JSON.
    """
    return param.type == "none" or _holds_none(param.default)


def kfp_arguments(pipeline: Pipeline, values: dict[str, Any]) -> dict[str, Any]:
    """Pipeline arguments for KFP from values keyed by the user's parameter names.

    Renames to the KFP input names, JSON-encodes the parameters whose default is None and
    makes ints given for float parameters floats. Unknown names raise ``KeyError``.
    """
    names = allocate_names(pipeline)
    params = {p.name: p for p in pipeline.parameters}
    out: dict[str, Any] = {}
    for name, value in values.items():
        param = params[name]
        if is_json_parameter(param):
            value = json.dumps(value, ensure_ascii=False)
        elif _holds_none(value):
            raise UsageError(
                f"parameter {name!r}: KFP cannot carry None inside a {param.type} parameter "
                f"whose default ({param.default!r}) holds no None",
                kind="bad-parameters",
                cell=param.cell,
                fix="pass a value without None, or give the parameter a default holding "
                "None (then it travels as JSON)",
            )
        elif param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[names.parameters[name]] = value
    return out


def annotation(param: Parameter) -> str:
    """The parameter's type in the generated component and pipeline signatures."""
    return JSON_TYPE if is_json_parameter(param) else PY_TYPES[param.type]


def kfp_default(param: Parameter) -> object:
    """The parameter's default as the pipeline function declares it (JSON text, or a float
    for an int default of a float parameter)."""
    if is_json_parameter(param):
        return json.dumps(param.default)
    if (
        param.type == "float"
        and isinstance(param.default, int)
        and not isinstance(param.default, bool)
    ):
        return float(param.default)
    return param.default
