"""One registry of named, lazily loaded things: engines, sweep algorithms, marshal backends.

After papermill's ``PapermillEngines``: a name maps to an object or to a ``"module:attr"``
string imported on first use, so listing names never imports an optional dependency.
Third parties add names through an entry point group, read once, lazily; broken metadata or
a broken entry point never hides the built-ins, and a plugin that fails to load is reported
(:class:`~kale_like.errors.EnvironmentProblem`) when it is asked for by name.

Precedence: :meth:`Registry.register` wins over everything; built-ins win over entry points
unless the registry is made with ``entry_points_replace_builtins=True``.

Tests use a private registry with :meth:`Registry.scoped` (changes are undone on exit) or
:meth:`Registry.copy`, so their registrations never leak into other tests.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, cast

from .errors import EnvironmentProblem, KaleError, UsageError

T = TypeVar("T")

# Where an entry came from (see Registry.order).
BUILTIN = "builtin"
REGISTERED = "registered"
ENTRY_POINT = "entry-point"


@dataclass(frozen=True)
class _Entry:
    target: Any  # the object; or a "module:attr" string / an EntryPoint while not loaded
    source: str
    loaded: bool


def _same(name: str) -> str:
    return name


class Registry(Generic[T]):
    """Names -> objects of one kind; ``noun`` ("engine") and ``plural`` word the errors.

    ``unknown_kind``/``unknown_fix`` make the UsageError for a name nobody registered;
    ``unavailable_kind``/``unavailable_fix`` the EnvironmentProblem for one whose import
    fails. Fix texts are templates: ``{name}``, ``{names}`` (the valid ones) and ``{group}``.
    ``prepare`` turns a freshly loaded string or entry point target into the registered
    object (a marshal backend class -> an instance); ``key`` folds names (case, blanks).
    """

    def __init__(
        self,
        noun: str,
        *,
        plural: str | None = None,
        group: str | None = None,
        builtins: Mapping[str, Any] | None = None,
        unknown_kind: str = "unknown-name",
        unknown_fix: str | None = None,
        unavailable_kind: str = "unavailable",
        unavailable_fix: str | None = None,
        prepare: Callable[[Any], Any] | None = None,
        key: Callable[[str], str] = _same,
        sort_names: bool = False,
        entry_points_replace_builtins: bool = False,
    ) -> None:
        self.noun = noun
        self.plural = plural or f"{noun}s"
        self.group = group
        self.unknown_kind = unknown_kind
        self.unknown_fix = unknown_fix
        self.unavailable_kind = unavailable_kind
        self.unavailable_fix = unavailable_fix
        self.sort_names = sort_names
        self._prepare = prepare
        self._key = key
        self._plugins_first = entry_points_replace_builtins
        self._builtins = {key(n): t for n, t in (builtins or {}).items()}
        self._entries: dict[str, _Entry] = {}
        self._discovered = group is None
        self._lock = threading.RLock()
        self._reset()

    # -- adding names ------------------------------------------------------------------------
    def register(self, name: str, target: Any) -> None:
        """Add or replace ``name``: an object, or a ``"module:attr"`` string loaded on first use.

        A replaced name moves to the end of :meth:`order`.
        """
        k = self._key(name)
        with self._lock:
            self._entries.pop(k, None)
            self._entries[k] = _Entry(target, REGISTERED, loaded=not isinstance(target, str))

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a built-in of that name comes back)."""
        k = self._key(name)
        with self._lock:
            self._entries.pop(k, None)
            if k in self._builtins:
                self._entries[k] = self._builtin_entry(k)

    def _builtin_entry(self, k: str) -> _Entry:
        target = self._builtins[k]
        return _Entry(target, BUILTIN, loaded=not isinstance(target, str))

    def _reset(self) -> None:
        """Built-ins plus explicit registrations; entry points to be read again."""
        registered = {k: e for k, e in self._entries.items() if e.source == REGISTERED}
        self._entries = {k: self._builtin_entry(k) for k in self._builtins if k not in registered}
        self._entries.update(registered)
        self._discovered = self.group is None

    def _discover(self) -> None:
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            try:
                found = list(entry_points(group=cast(str, self.group)))
            except Exception:  # broken metadata must not break the built-ins
                found = []
            for ep in found:
                k = self._key(ep.name)
                held = self._entries.get(k)
                if held is None or (held.source == BUILTIN and self._plugins_first):
                    self._entries[k] = _Entry(ep, ENTRY_POINT, loaded=False)

    # -- asking ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every name (whether or not it loads): sorted, or in :meth:`order` of sources."""
        self._discover()
        found = list(self._entries)
        return sorted(found) if self.sort_names else found

    def order(self, source: str) -> list[str]:
        """The names from one ``source`` (BUILTIN, REGISTERED, ENTRY_POINT) as they came."""
        self._discover()
        return [k for k, e in self._entries.items() if e.source == source]

    def __contains__(self, name: object) -> bool:
        self._discover()
        return isinstance(name, str) and self._key(name) in self._entries

    def get(self, name: str) -> T:
        """The object called ``name``, loaded now if it is not yet.

        Unknown -> UsageError listing the valid names; a failed import -> EnvironmentProblem.
        """
        self._discover()
        k = self._key(name)
        entry = self._entries.get(k)
        if entry is None:
            raise self.unknown(name)
        if entry.loaded:
            return cast(T, entry.target)
        obj = self._load(name, entry)
        with self._lock:
            if self._entries.get(k) is entry:  # not replaced meanwhile: keep what was loaded
                self._entries[k] = _Entry(obj, entry.source, loaded=True)
        return cast(T, obj)

    def _load(self, name: str, entry: _Entry) -> Any:
        target = entry.target
        try:
            if isinstance(target, EntryPoint):
                obj = target.load()
            else:
                module_name, _, attr = str(target).partition(":")
                obj = getattr(importlib.import_module(module_name), attr)
            return self._prepare(obj) if self._prepare else obj
        except KaleError:
            raise
        except Exception as exc:
            if isinstance(target, EntryPoint):  # a third party's package: say which one
                raise self._broken_plugin(name, target, exc) from exc
            if isinstance(exc, (ImportError, AttributeError)):
                raise self.unavailable(name, exc) from exc
            raise  # our own code is broken: a bug to see, not a missing package

    def unknown(self, name: str) -> UsageError:
        """The error for ``name`` that nobody registered, listing the valid names."""
        return UsageError(
            f"unknown {self.noun} {name!r}; valid {self.plural}: {', '.join(self.names())}",
            kind=self.unknown_kind,
            fix=self._fix(self.unknown_fix, name),
        )

    def unavailable(self, name: str, exc: BaseException) -> EnvironmentProblem:
        """The error for ``name`` whose import (or construction) failed with ``exc``."""
        return EnvironmentProblem(
            f"{self.noun} {name!r} is not available here: {exc}",
            kind=self.unavailable_kind,
            fix=self._fix(self.unavailable_fix, name),
        )

    def _broken_plugin(self, name: str, ep: EntryPoint, exc: BaseException) -> EnvironmentProblem:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        return EnvironmentProblem(
            f"{self.noun} {name!r} ({ep.value}, entry point group {self.group!r} of {dist}) "
            f"failed to load: {type(exc).__name__}: {exc}",
            kind=self.unavailable_kind,
            fix=f"install what {dist} needs, update or uninstall it, or pick another {self.noun}: "
            f"{', '.join(self.names())}",
        )

    def _fix(self, template: str | None, name: str) -> str | None:
        if template is None:
            return None
        return template.format(name=name, names=", ".join(self.names()), group=self.group)

    # -- private registries for tests --------------------------------------------------------
    def copy(self) -> Registry[T]:
        """An independent registry with the same names (and the same discovery state)."""
        with self._lock:
            twin = _copy.copy(self)
            twin._entries = dict(self._entries)
            twin._lock = threading.RLock()
        return twin

    @contextlib.contextmanager
    def scoped(self, *, rediscover: bool = False) -> Iterator[Registry[T]]:
        """Within the block, changes to this registry are private: undone on exit.

        ``rediscover`` forgets the entry points read so far, so packages put on ``sys.path``
        inside the block are found.
        """
        with self._lock:
            saved = dict(self._entries), self._discovered
            if rediscover:
                self._reset()
        try:
            yield self
        finally:
            with self._lock:
                self._entries, self._discovered = saved
