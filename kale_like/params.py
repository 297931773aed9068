"""Pipeline parameter values: papermill-style ``-p/-r/-y/-f`` parsing and type checks. Pure.

A value must match the type of its parameter's default (an int may stand for a float; a
``None`` default accepts anything). Values are passed on unchanged, as papermill would.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError
from .model import Parameter, Pipeline

_CHECKS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


def parse_value(text: str) -> Any:
    """``-p`` value text -> Python value: a Python literal, else YAML, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        import yaml

        value = yaml.safe_load(text)
    except Exception:
        return text
    # YAML turns "" into None and dates into date objects: keep such text as given.
    if value is None or not isinstance(value, (str, int, float, bool, list, dict)):
        return text
    return value


def _valid(pipeline: Pipeline) -> str:
    names = [p.name for p in pipeline.parameters]
    return ", ".join(names) if names else "(this notebook has no parameters)"


def _param(pipeline: Pipeline, name: str) -> Parameter:
    try:
        return pipeline.parameter(name)
    except KeyError:
        raise UsageError(
            f"unknown parameter {name!r}; valid parameters: {_valid(pipeline)}",
            kind="unknown-parameter",
            fix="tag the cell defining it `pipeline-parameters`, or fix the name",
        ) from None


_EXAMPLE_ARTICLE = {"int": "an"}


def cli_text(value: Any) -> str:
    """``value`` as typed after ``-p NAME`` in a shell (strings as is, others as literals)."""
    import shlex

    return shlex.quote(value if isinstance(value, str) else repr(value))


def check_value(param: Parameter, value: Any) -> Any:
    """``value`` if it fits ``param``'s default type, else UsageError naming the parameter."""
    allowed = _CHECKS.get(param.type)
    if allowed is None or param.default is None:
        return value
    ok = isinstance(value, allowed) and not (
        param.type in ("int", "float") and isinstance(value, bool)
    )
    if not ok:
        raise UsageError(
            f"parameter {param.name!r} expects {param.type} (default {param.default!r}), "
            f"got {type(value).__name__} {value!r}",
            kind="bad-parameter-value",
            cell=param.cell,
            fix=f"pass {_EXAMPLE_ARTICLE.get(param.type, 'a')} {param.type}, e.g. "
            f"-p {param.name} {cli_text(param.default)}",
        )
    return list(value) if isinstance(value, tuple) else value


def resolve(pipeline: Pipeline, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of every parameter, overridden by ``overrides`` (checked)."""
    values = {p.name: p.default for p in pipeline.parameters}
    for name, value in (overrides or {}).items():
        values[name] = check_value(_param(pipeline, name), value)
    return values


def from_cli(
    pipeline: Pipeline,
    *,
    params: Sequence[Sequence[str]] = (),
    raw: Sequence[Sequence[str]] = (),
    yaml_strings: Iterable[str] = (),
    files: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """Overrides from ``-f FILE``, ``-y YAML``, ``-p NAME VALUE``, ``-r NAME RAW`` (later wins)."""
    out: dict[str, Any] = {}
    for path in files:
        out.update(_yaml_mapping(_read(path), f"parameters file {str(path)!r}"))
    for text in yaml_strings:
        out.update(_yaml_mapping(text, "-y"))
    for name, text in params:
        param = _param(pipeline, name)
        # A string parameter takes the text as typed (`-p label 42` means "42").
        out[name] = text if param.type == "str" else parse_value(text)
    for name, text in raw:
        _param(pipeline, name)
        out[name] = text
    return out


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read parameters file {str(path)!r}: {exc.strerror}", kind="bad-parameters-file"
        ) from exc


def _yaml_mapping(text: str, what: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{what} is not valid YAML: {exc}", kind="bad-parameters-yaml") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(
            f"{what} must be a YAML mapping of parameter names to values, "
            f"got {type(data).__name__}",
            kind="bad-parameters-yaml",
        )
    return {str(k): v for k, v in data.items()}
