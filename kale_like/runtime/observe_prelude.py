"""Prelude objects a step changed in place, carried to its consumers as patches.

A changed prelude object (a decorator's counter, a closure cell, a registry on a function)
cannot travel as a value: the consumer replays the prelude (imports/functions cells), and
other prelude objects refer to its own copy. It travels as a :class:`PreludePatch` of the
changed parts (:func:`make_patch`), applied in place to the replay (:func:`apply_patches`).
Write detection (:mod:`.observe`) watches the names :func:`created_names` finds.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass
from typing import Any

from .digest import parts


@dataclass
class PreludePatch:
    """The changed parts of a prelude object, applied in place to the consumer's replay."""

    name: str
    parts: dict[str, Any]

    def apply(self, ns: dict[str, Any]) -> None:
        target = ns.get(self.name)
        if target is None:
            return
        if isinstance(target, types.FunctionType):
            for key, value in self.parts.items():
                if key == "dict":
                    target.__dict__.clear()
                    target.__dict__.update(value)
                elif key == "defaults":
                    target.__defaults__ = value
                elif key == "kwdefaults":
                    target.__kwdefaults__ = value
                elif key.startswith("cell:"):
                    target.__closure__[int(key[5:])].cell_contents = value  # type: ignore[index]
            return
        if "classdict" in self.parts:
            for key, value in self.parts["classdict"].items():
                setattr(target, key, value)
            return
        value = self.parts["state"]
        if isinstance(target, dict) and isinstance(value, dict):
            target.clear()
            target.update(value)
        elif isinstance(target, list) and isinstance(value, list):
            target[:] = value
        elif isinstance(target, set) and isinstance(value, set):
            target.clear()
            target.update(value)
        else:
            _set_state(target, value, ns, self.name)


def _set_state(target: Any, value: Any, ns: dict[str, Any], name: str) -> None:
    """Give ``target`` the state of ``value`` (same type), in place where pickle could."""
    if type(target) is not type(value):
        ns[name] = value
        return
    try:
        rv = value.__reduce_ex__(4)
        state = rv[2] if isinstance(rv, tuple) and len(rv) > 2 else None
    except Exception:
        state = None
    setstate = getattr(target, "__setstate__", None)
    if state is not None and setstate is not None:
        try:
            setstate(state)
            return
        except Exception:
            pass
    if isinstance(state, dict) and hasattr(target, "__dict__"):
        target.__dict__.clear()
        target.__dict__.update(state)
        return
    ns[name] = value  # nothing to update in place: the value itself


def make_patch(name: str, value: Any, changed: set[str] | None = None) -> PreludePatch:
    """A patch carrying ``value``'s parts (only ``changed`` ones when given)."""
    if isinstance(value, types.FunctionType):
        out: dict[str, Any] = {}
        want = changed if changed is not None else set(parts(value))
        for key in want:
            if key == "dict":
                out[key] = dict(value.__dict__)
            elif key == "defaults":
                out[key] = value.__defaults__
            elif key == "kwdefaults":
                out[key] = value.__kwdefaults__
            elif key.startswith("cell:"):
                out[key] = value.__closure__[int(key[5:])].cell_contents  # type: ignore[index]
        return PreludePatch(name, out)
    if isinstance(value, type):
        return PreludePatch(name, {"classdict": _class_data(value)})
    return PreludePatch(name, {"state": value})


def _class_data(cls: type) -> dict[str, Any]:
    """A class's data attributes (registries, counters): not its methods or descriptors."""
    return {
        k: v
        for k, v in vars(cls).items()
        if not (k.startswith("__") and k.endswith("__"))
        and not isinstance(v, (types.FunctionType, classmethod, staticmethod, property))
    }


def apply_patches(loaded: dict[str, Any], ns: dict[str, Any]) -> dict[str, Any]:
    """Apply loaded prelude patches to ``ns`` in place; return the other values."""
    out = {}
    for name, value in loaded.items():
        if isinstance(value, PreludePatch):
            value.apply(ns)
        else:
            out[name] = value
    return out


def created_names(sources: list[str], transform: Any) -> set[str]:
    """Names the prelude binds other than by ``import`` (those are the libraries' objects)."""
    names: set[str] = set()
    for src in sources:
        try:
            tree = ast.parse(transform(src))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names
