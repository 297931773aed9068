"""Type-dispatched save/load of step variables: a registry of marshalling backends.

A backend saves one value into a directory and loads it back. Built-ins, tried in order:
``json`` (values whose exact types survive JSON), ``numpy`` (.npy), ``pandas`` (parquet with
pyarrow when the frame survives it, else pickle), ``joblib`` (scikit-learn, xgboost,
lightgbm), ``keras``, ``torch``, and ``cloudpickle`` for everything else. Third-party backends
register under the ``kale_like.marshal`` entry-point group and are tried before the
built-ins. A backend never imports its library unless the value's type already comes from it
(checked through ``sys.modules``), so saving a list never imports numpy.

Each backend returns the sha256 digest of the bytes it wrote; large arrays are hashed while
they stream to disk, never copied in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from ..errors import KaleError
from ..registry import BUILTIN, ENTRY_POINT, REGISTERED, Registry
from .marshal_builtins import (
    JoblibBackend,
    JsonBackend,
    KerasBackend,
    NumpyBackend,
    PandasBackend,
    PickleBackend,
    TorchBackend,
)
from .marshal_io import (
    HashingWriter,
    file_digest,
    json_exact,
    pickle_by_reference,
    pickle_dump,
    pickle_dumps,
    pickle_load,
    pickle_new_definitions,
    write_array,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "HashingWriter",
    "MarshalRegistry",
    "default_registry",
    "file_digest",
    "json_exact",
    "pickle_by_reference",
    "pickle_dump",
    "pickle_dumps",
    "pickle_load",
    "pickle_new_definitions",
    "registry",
    "write_array",
]

ENTRY_POINT_GROUP = "kale_like.marshal"


class Backend(Protocol):
    """A marshalling backend: ``accepts`` is cheap and must not import heavy libraries."""

    name: str

    def accepts(self, value: Any) -> bool: ...

    def save(self, value: Any, directory: Path) -> str:
        """Write ``value`` under ``directory``; return the sha256 hex digest of the data."""
        ...

    def load(self, directory: Path) -> Any: ...


# -- the registry -----------------------------------------------------------------------------
def _instance(loaded: Any) -> Any:
    """An entry point may name a backend class or an instance."""
    return loaded() if isinstance(loaded, type) else loaded


class MarshalRegistry:
    """Backends by name; ``for_value`` picks the first that accepts a value.

    Tried in order: registered backends (newest first), entry points, then the built-ins in
    their given order. An entry point's name is its backend's name.
    """

    def __init__(self, builtins: list[Backend] | None = None) -> None:
        self._named: Registry[Backend] = Registry(
            "marshal backend",
            plural="backends",
            group=ENTRY_POINT_GROUP,
            builtins={b.name: b for b in builtins or []},
            unknown_kind="unknown-marshal-backend",
            unknown_fix="install the package that registers {name!r} under the {group!r} "
            "entry point",
            unavailable_kind="marshal-backend-unavailable",
            unavailable_fix="install the package it needs",
            prepare=_instance,
            sort_names=True,
            # a plugin backend named like a built-in replaces it, as it is tried first
            entry_points_replace_builtins=True,
        )

    def register(self, backend: Backend) -> None:
        """Add a backend tried before the built-ins (replaces one with the same name)."""
        self._named.register(backend.name, backend)

    def _order(self) -> list[str]:
        named = self._named
        return [
            *reversed(named.order(REGISTERED)),
            *named.order(ENTRY_POINT),
            *named.order(BUILTIN),
        ]

    def backends(self) -> list[Backend]:
        """Every backend that loads, in the order ``for_value`` tries them."""
        found = []
        for name in self._order():
            try:
                found.append(self._named.get(name))
            except KaleError:  # a broken plugin fails when asked for by name, never a save
                continue
        return found

    def names(self) -> list[str]:
        return self._order()

    def get(self, name: str) -> Backend:
        """The backend ``name``: UsageError listing the valid ones if unknown."""
        return self._named.get(name)

    def for_value(self, value: Any) -> Backend:
        for b in self.backends():
            try:
                if b.accepts(value):
                    return b
            except Exception:  # a third-party accepts() must not break saving
                continue
        raise AssertionError("the cloudpickle fallback accepts everything")

    @contextlib.contextmanager
    def scoped(self, *, rediscover: bool = False) -> Iterator[MarshalRegistry]:
        """Within the block, registrations are private: undone on exit (see Registry.scoped)."""
        with self._named.scoped(rediscover=rediscover):
            yield self


def default_registry() -> MarshalRegistry:
    return MarshalRegistry(
        [
            JsonBackend(),
            NumpyBackend(),
            PandasBackend(),
            JoblibBackend(),
            # Before torch: on Keras 3's torch backend a keras.Model is also a torch Module,
            # and its own .keras format is what keras.models.load_model reads back.
            KerasBackend(),
            TorchBackend(),
            PickleBackend(),
        ]
    )


registry = default_registry()
