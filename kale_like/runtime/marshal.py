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

from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
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
class MarshalRegistry:
    """Backends by name; ``for_value`` picks the first that accepts a value."""

    def __init__(self, builtins: list[Backend] | None = None) -> None:
        self._builtins: list[Backend] = list(builtins or [])
        self._extra: list[Backend] = []
        self._entry_points_loaded = False

    def register(self, backend: Backend) -> None:
        """Add a backend tried before the built-ins (replaces one with the same name)."""
        self._extra = [b for b in self._extra if b.name != backend.name]
        self._extra.insert(0, backend)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            backend = obj() if isinstance(obj, type) else obj
            if not any(b.name == backend.name for b in self._extra):
                self._extra.append(backend)

    def backends(self) -> list[Backend]:
        self._load_entry_points()
        return [*self._extra, *self._builtins]

    def names(self) -> list[str]:
        return [b.name for b in self.backends()]

    def get(self, name: str) -> Backend:
        for b in self.backends():
            if b.name == name:
                return b
        raise UsageError(
            f"unknown marshal backend {name!r}; valid backends: {', '.join(sorted(self.names()))}",
            kind="unknown-marshal-backend",
            fix=f"install the package that registers {name!r} under the "
            f"{ENTRY_POINT_GROUP!r} entry point",
        )

    def for_value(self, value: Any) -> Backend:
        for b in self.backends():
            try:
                if b.accepts(value):
                    return b
            except Exception:  # a third-party accepts() must not break saving
                continue
        raise AssertionError("the cloudpickle fallback accepts everything")


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
