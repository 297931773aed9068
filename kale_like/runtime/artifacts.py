"""The on-disk format of a step variable, and saving/loading groups of variables.

Each output path is a directory::

    PATH/meta.json     {"format": 1, "variable", "backend", "type", "digest", "group",
                        "files": {NAME: {"size", "sha256" (files up to 16 MB)}}}
    PATH/value.*       the backend's data files

The recorded sizes and digests are checked before a value is loaded (:func:`damage`), so a
cut or edited file fails clearly (:class:`DamagedValue`) instead of deep inside a library.

A variable its step left unbound (assigned only on a branch not taken) is saved as a
``meta.json`` with backend ``absent``: consumers then run without the name, as top to bottom.

Outputs that share objects (``a = b``, or one output inside another) form a *group*: they
are pickled together, so identity survives, and every member's directory holds the same
``group.pkl`` (hard-linked when possible). A consumer loading several members of one group
unpickles it once. Directories are written under a temporary name and renamed, so a killed
step never leaves a half-written artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .marshal import (
    HashingWriter,
    MarshalRegistry,
    file_digest,
    pickle_dump,
    pickle_load,
    registry,
)

FORMAT = 1
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


def _atomic_dir(path: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary directory, then rename it to ``path``: never a half-written artifact.

    An old ``path`` goes first (a missing artifact is safe, a corrupt one is not), so its
    pages are freed before the new data is written, as when a file is overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# Files up to this size also get their sha256 recorded (re-reading a file just written costs
# little); larger ones are checked by size, which catches the usual damage: a cut file.
DIGEST_MAX_BYTES = 16 << 20


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` with the size (and digest) of every data file beside it."""
    meta = {**meta, "files": _file_facts(directory)}
    (directory / "meta.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")


def _file_facts(directory: Path) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("*")):
        if path.name == "meta.json" or not path.is_file():
            continue
        size = path.stat().st_size
        fact: dict[str, Any] = {"size": size}
        if size <= DIGEST_MAX_BYTES:
            fact["sha256"] = file_digest(path)
        facts[path.relative_to(directory).as_posix()] = fact
    return facts


class DamagedValue(Exception):
    """A saved value's files differ from what was saved (cut, edited or missing)."""

    def __init__(self, variable: str, path: Path, reason: str) -> None:
        super().__init__(
            f"the saved value of {variable!r} is damaged ({reason}, under {path}); it cannot "
            "be loaded. The local engine recomputes a damaged cache entry on the next run"
        )
        self.variable = variable
        self.reason = reason


def damage(path: str | Path, meta: dict[str, Any], *, digests: bool = True) -> str | None:
    """Why the variable directory ``path`` no longer holds what was saved, or None.

    Sizes are always compared (a ``stat``); ``digests`` also re-hashes the small files.
    Directories saved before sizes were recorded pass.
    """
    for rel, fact in (meta.get("files") or {}).items():
        file = Path(path) / rel
        try:
            size = file.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if size != fact.get("size"):
            return f"{rel} has {size} bytes, {fact.get('size')} were saved"
        if digests and fact.get("sha256") and file_digest(file) != fact["sha256"]:
            return f"{rel} changed since it was saved (sha256 differs)"
    return None


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
        _write_meta(
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

    _atomic_dir(Path(path), fill)
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
                _write_meta(
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

            _atomic_dir(Path(paths[name]), fill)
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
    _atomic_dir(Path(path), lambda tmp: _write_meta(tmp, meta))
    return digest


def read_meta(path: str | Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(path) / "meta.json").read_text(encoding="utf-8"))
    return meta


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
