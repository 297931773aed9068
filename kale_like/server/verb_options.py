"""Which options a request may pass a verb: the verb's own signature decides.

Names come from its parameters (the fields of an option group such as ``budget: Budget``
stand in for the group), JSON types from its annotations, lower bounds from
:data:`_MINIMUM`; options only the server may set are refused whatever the verb takes.
No tornado here.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = ["SERVER_ONLY_OPTIONS", "check_options", "flat_options", "option_groups", "pack_options"]

# Options a request may not set: injected clients and callbacks, and the run root, which the
# server chooses (its reports are served from there).
SERVER_ONLY_OPTIONS = frozenset(
    ("client", "k8s_client", "run_fn", "progress", "cancel", "run_root", "metrics_reader")
)
# Lower bounds of numeric options, whichever verb takes them.
_MINIMUM: dict[str, float] = {
    "jobs": 1,
    "trials": 1,
    "parallel": 1,
    "max_failed": 0,
    "grid_points": 1,
    "seed": 0,
    "poll": 0.01,
    "timeout": 0.01,
}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Annotations of ``fn`` evaluated one by one (one unresolvable name spoils no other)."""
    out: dict[str, Any] = {}
    glb = getattr(fn, "__globals__", {})
    for name, ann in getattr(fn, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, dict(glb), {"typing": typing})  # noqa: S307 - our own annotations
            except Exception:  # noqa: BLE001 - a name only imported for type checking
                continue
        out[name] = ann
    return out


def _groups() -> tuple[type, ...]:
    from ..kubeflow.config import KfpTarget
    from ..sweep.options import Budget, KatibTarget

    return (KfpTarget, Budget, KatibTarget)


def option_groups(fn: Callable[..., Any]) -> dict[str, type]:
    """Parameters of ``fn`` that take an option group (``budget: Budget | None``...), by name.
    A request sets a group's fields as flat options; :func:`pack_options` builds the group."""
    groups = _groups()
    out: dict[str, type] = {}
    for name, hint in _hints(fn).items():
        for kind in typing.get_args(hint) or (hint,):
            if kind in groups:
                out[name] = kind
    return out


def flat_options(fn: Callable[..., Any], skip: int = 1) -> dict[str, Any]:
    """The options a request may give ``fn`` (after ``skip`` positionals) with their
    annotations: the fields of its option groups in place of the groups."""
    hints = _hints(fn)
    groups = option_groups(fn)
    out: dict[str, Any] = {}
    for name in list(inspect.signature(fn).parameters)[skip:]:
        if name in groups:
            out.update(typing.get_type_hints(groups[name]))
        else:
            out[name] = hints.get(name, Any)
    return out


def pack_options(fn: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the flat fields of each option group of ``fn`` gathered into it."""
    out = dict(options)
    for name, kind in option_groups(fn).items():
        fields = {f.name for f in dataclasses.fields(kind)}
        given = {k: out.pop(k) for k in list(out) if k in fields}
        if given and name not in out:
            out[name] = kind(**given)
    return out


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON ``value`` fits the annotation ``hint`` (lenient where unsure)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint in (Path, os.PathLike) or origin is os.PathLike:
        return isinstance(value, str)
    base = origin or hint
    if isinstance(base, type) and issubclass(base, Mapping):
        if not isinstance(value, dict):
            return False
        vt = args[1] if len(args) == 2 else Any
        return all(isinstance(k, str) for k in value) and all(
            _matches(v, vt) for v in value.values()
        )
    if isinstance(base, type) and base is not str and issubclass(base, Iterable):
        if not isinstance(value, list):
            return False
        et = args[0] if len(args) == 1 else Any
        return all(_matches(v, et) for v in value)
    if base in (Callable, typing.Callable) or origin is Callable:
        return False  # nothing a JSON body holds is callable
    return True  # an annotation this checker does not know: the verb checks it


def _describe(hint: Any) -> str:
    text = str(hint) if not isinstance(hint, type) else hint.__name__
    return text.replace("typing.", "").replace("collections.abc.", "").replace("NoneType", "null")


def check_options(
    fn: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    verb: str,
    skip: int = 1,
    unknown: str = "refuse",
) -> None:
    """Names, types and ranges of ``options`` against the signature of ``fn`` (400).

    ``skip`` leading positional parameters are the notebook (and output folder); with
    ``unknown="ignore"`` names ``fn`` does not take are left alone (panel hints)."""
    refused = sorted(set(options) & SERVER_ONLY_OPTIONS)
    if refused:
        raise UsageError(
            f"option(s) {', '.join(refused)} cannot be set in a request",
            kind="unknown-option",
        )
    params = inspect.signature(fn).parameters
    takes = flat_options(fn, skip)
    names = [n for n in takes if n not in SERVER_ONLY_OPTIONS]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if unknown == "refuse" and not takes_any:
        extra = sorted(set(options) - set(names))
        if extra:
            raise UsageError(
                f"unknown option(s) {', '.join(extra)} for {verb}",
                kind="unknown-option",
                fix=f"valid options: {', '.join(names)}",
            )
    for name, value in options.items():
        if name not in takes:
            continue
        hint = takes[name]
        if not _matches(value, hint):
            raise UsageError(
                f"option {name!r} of {verb} must be {_describe(hint)}, got {json.dumps(value)}",
                kind="bad-options",
            )
        low = _MINIMUM.get(name)
        if low is not None and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or value < low:
                raise UsageError(
                    f"option {name!r} of {verb} must be at least {low}, got {value}",
                    kind="bad-options",
                )
