"""Saving and loading step variables, alone or in groups that share objects.

Each variable is a directory (its format: :mod:`.artifact_files`); :func:`load_inputs`
checks it for damage before loading (:class:`DamagedValue`).

A variable its step left unbound (assigned only on a branch not taken) is saved as a
``meta.json`` with backend ``absent``: consumers then run without the name, as top to bottom.

Outputs that share objects (``a = b``, or one output inside another) form a *group*: they
are pickled together, so identity survives, and every member's directory holds the same
``group.pkl`` (hard-linked when possible). A consumer loading several members of one group
unpickles it once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .artifact_files import FORMAT, DamagedValue, atomic_dir, damage, read_meta, write_meta
from .marshal import (
    HashingWriter,
    MarshalRegistry,
    pickle_dump,
    pickle_load,
    registry,
)

ABSENT = "absent"  # the backend name of "the producer left this name unbound"
_ATOMS = (str, bytes, int, float, complex, bool, type(None))
_GLOBALS = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
_WALK_BUDGET = 20_000


class SaveError(Exception):
    """A value could not be saved; ``variable``/``type_name``/``fix`` explain why."""

    def __init__(self, variable: str, type_name: str, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.variable = variable
        self.type_name = type_name
        self.reason = reason
        self.fix = fix


def type_name(value: Any) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__


def _reachable(value: Any) -> set[int]:
    """Ids of mutable objects reachable from ``value`` through plain containers/attributes."""
    seen: set[int] = set()
    stack = [value]
    budget = _WALK_BUDGET
    while stack and budget > 0:
        obj = stack.pop()
        if isinstance(obj, _ATOMS) or id(obj) in seen:
            continue
        if isinstance(obj, _GLOBALS):
            continue  # modules, classes and functions are shared by every value
        budget -= 1
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            if len(obj) <= budget:
                stack.extend(obj)
        else:
            d = getattr(obj, "__dict__", None)
            if isinstance(d, dict) and type(obj).__module__ not in ("numpy", "pandas"):
                stack.extend(d.values())
    return seen


def share_groups(values: dict[str, Any]) -> list[list[str]]:
    """Partition output names into groups of values that share objects (order kept)."""
    names = list(values)
    parent = {n: n for n in names}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    owner: dict[int, str] = {}
    for name in names:
        value = values[name]
        # Immutable atoms are shared by the interpreter (interning), not by the user.
        ids = set() if isinstance(value, _ATOMS) else {id(value)} | _reachable(value)
        for i in ids:
            other = owner.setdefault(i, name)
            if other != name:
                parent[find(name)] = find(other)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def save_value(name: str, value: Any, path: str | Path, reg: MarshalRegistry | None = None) -> str:
    """Save one value at ``path`` with the backend its type selects; return its digest."""
    reg = reg or registry
    backend = reg.for_value(value)
    result: dict[str, str] = {}

    def fill(tmp: Path) -> None:
        try:
            digest = backend.save(value, tmp)
        except Exception as exc:
            raise SaveError(
                name, type_name(value), f"{type(exc).__name__}: {exc}", _fix_for(value, exc)
            ) from exc
        result["digest"] = digest
        write_meta(
            tmp,
            {
                "format": FORMAT,
                "variable": name,
                "backend": backend.name,
                "type": type_name(value),
                "digest": digest,
                "group": None,
            },
        )

    atomic_dir(Path(path), fill)
    return result["digest"]


def save_group(members: dict[str, Any], paths: Mapping[str, str | Path]) -> dict[str, str]:
    """Pickle values that share objects together; every member path gets the group file."""
    names = list(members)
    first_tmp = Path(tempfile.mkdtemp(prefix=".group."))
    try:
        group_file = first_tmp / "group.pkl"
        try:
            with open(group_file, "wb") as fh:
                out = HashingWriter(fh)
                pickle_dump(members, out)
                gdigest = out.sha.hexdigest()
        except Exception as exc:
            bad = _first_unpicklable(members)
            raise SaveError(
                bad,
                type_name(members[bad]),
                f"{type(exc).__name__}: {exc}",
                _fix_for(members[bad], exc),
            ) from exc
        digests: dict[str, str] = {}
        for name in names:
            digest = hashlib.sha256(f"{gdigest}:{name}".encode()).hexdigest()
            digests[name] = digest

            def fill(tmp: Path, name: str = name, digest: str = digest) -> None:
                try:
                    os.link(group_file, tmp / "group.pkl")
                except OSError:
                    shutil.copyfile(group_file, tmp / "group.pkl")
                write_meta(
                    tmp,
                    {
                        "format": FORMAT,
                        "variable": name,
                        "backend": "group",
                        "type": type_name(members[name]),
                        "digest": digest,
                        "group": {"id": gdigest, "members": names},
                    },
                )

            atomic_dir(Path(paths[name]), fill)
        return digests
    finally:
        shutil.rmtree(first_tmp, ignore_errors=True)


def save_outputs(values: dict[str, Any], paths: dict[str, str]) -> dict[str, str]:
    """Save every output (shared objects grouped); return variable -> digest."""
    digests: dict[str, str] = {}
    for group in share_groups(values):
        if len(group) == 1:
            name = group[0]
            digests[name] = save_value(name, values[name], paths[name])
        else:
            digests.update(save_group({n: values[n] for n in group}, paths))
    return digests


def save_absent(name: str, step: str, path: str | Path) -> str:
    """Record that ``step`` left ``name`` unbound (it is assigned only on some paths).

    A consumer then runs without the name, as the notebook would top to bottom: reading
    it raises ``NameError`` there, which the runtime explains (see :func:`load_inputs`).
    """
    digest = hashlib.sha256(f"{ABSENT}:{step}:{name}".encode()).hexdigest()
    meta = {
        "format": FORMAT,
        "variable": name,
        "backend": ABSENT,
        "type": None,
        "digest": digest,
        "group": None,
        "step": step,
    }
    atomic_dir(Path(path), lambda tmp: write_meta(tmp, meta))
    return digest


def load_inputs(
    paths: dict[str, str],
    reg: MarshalRegistry | None = None,
    absent: dict[str, str] | None = None,
    siblings: dict[str, Any] | None = None,
    known: dict[str, tuple[Callable[[Any], str | None], str]] | None = None,
) -> dict[str, Any]:
    """Load variables; members of one group are unpickled once and stay one object.

    A variable its producer left unbound is not loaded; ``absent`` (if given) maps it to
    that producer step. ``siblings`` (if given) receives the members of loaded groups that
    were not asked for: they share objects with loaded values, so a step can change them.
    ``known`` (if given) receives, for values whose backend can tell whether a live value
    still holds what was saved (:func:`_saved_check`), that check and the saved digest: the
    loaded value is not hashed before the step (write detection, runtime/observe.py).
    """
    reg = reg or registry
    groups: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for name, path in paths.items():
        try:
            meta = read_meta(path)
        except (OSError, ValueError) as exc:
            raise DamagedValue(name, Path(path), "its meta.json is unreadable") from exc
        why = damage(path, meta)
        if why is not None:
            raise DamagedValue(name, Path(path), why)
        if meta.get("backend") == ABSENT:
            if absent is not None:
                absent[name] = str(meta.get("step") or "?")
            continue
        group = meta.get("group")
        if group:
            if group["id"] not in groups:
                with open(Path(path) / "group.pkl", "rb") as fh:
                    groups[group["id"]] = pickle_load(fh)
            out[name] = groups[group["id"]][meta["variable"]]
        else:
            backend = reg.get(meta["backend"])
            out[name] = backend.load(Path(path))
            if known is not None:
                check = _saved_check(backend, out[name], Path(path), str(meta.get("digest") or ""))
                if check is not None:
                    known[name] = check
    if siblings is not None:
        for members in groups.values():
            siblings.update({k: v for k, v in members.items() if k not in out})
    return out


def _saved_check(
    backend: Any, value: Any, directory: Path, saved: str
) -> tuple[Callable[[Any], str | None], str] | None:
    """How write detection tells a loaded value still holds what was saved: a compare with
    the saved file (``matches_saved``), else the saver's digest recomputed (``digest_of``);
    returns (a function giving ``saved`` while unchanged, ``saved``), or None."""
    if not saved:
        return None
    matches = getattr(backend, "matches_saved", None)
    if callable(matches):
        return (lambda v: saved if matches(v, directory) else None), saved
    digest_of = getattr(backend, "digest_of", None)
    reproduces = getattr(backend, "reproduces", None)
    if callable(digest_of) and callable(reproduces) and reproduces(value, saved):
        return digest_of, saved
    return None


def load_value(path: str | Path) -> Any:
    meta = read_meta(path)
    if meta.get("backend") == ABSENT:
        raise LookupError(
            f"{meta['variable']!r} was not defined by step {meta.get('step')!r} in this run"
        )
    return load_inputs({meta["variable"]: str(path)})[meta["variable"]]


def _first_unpicklable(members: dict[str, Any]) -> str:
    import io

    for name, value in members.items():
        try:
            pickle_dump(value, io.BytesIO())
        except Exception:
            return name
    return next(iter(members))


def _fix_for(value: Any, exc: BaseException | None = None) -> str:
    from ..fsutil import is_disk_full

    if is_disk_full(exc):  # the value is fine; the disk is not
        return (
            "the disk holding the run folder is full: free space there or choose another "
            "run root (--run-root / $KALE_LIKE_RUN_ROOT)"
        )
    kind = type(value).__name__
    if kind in ("generator", "coroutine", "async_generator"):
        return (
            "materialize it (e.g. list(...)) before the step ends, or create it in the step "
            "that uses it"
        )
    if hasattr(value, "read") or hasattr(value, "fileno") or kind in ("socket", "Connection"):
        return (
            "open files, sockets and connections cannot move between steps: save what you "
            "need, or open it again in the step that uses it"
        )
    if "lock" in kind.lower() or "thread" in kind.lower():
        return "create it in the step that uses it (threads and locks are per process)"
    return (
        "convert it to a picklable value, move the code that needs it into the step that "
        "uses it (merge the steps), or register a marshal backend for this type under the "
        "'kale_like.marshal' entry point"
    )
