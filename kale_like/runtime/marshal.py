"""Type-dispatched save/load of step variables: a registry of marshalling backends.

A backend saves one value into a directory and loads it back. Built-ins, tried in order:
``json`` (values whose exact types survive JSON), ``numpy`` (.npy), ``pandas`` (parquet with
pyarrow when the frame survives it, else pickle), ``joblib`` (scikit-learn, xgboost,
lightgbm), ``torch``, ``keras``, and ``cloudpickle`` for everything else. Third-party backends
register under the ``kale_like.marshal`` entry-point group and are tried before the
built-ins. A backend never imports its library unless the value's type already comes from it
(checked through ``sys.modules``), so saving a list never imports numpy.

Each backend returns the sha256 digest of the bytes it wrote; large arrays are hashed while
they stream to disk, never copied in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ..errors import UsageError

ENTRY_POINT_GROUP = "kale_like.marshal"
_CHUNK = 16 << 20


class Backend(Protocol):
    """A marshalling backend: ``accepts`` is cheap and must not import heavy libraries."""

    name: str

    def accepts(self, value: Any) -> bool: ...

    def save(self, value: Any, directory: Path) -> str:
        """Write ``value`` under ``directory``; return the sha256 hex digest of the data."""
        ...

    def load(self, directory: Path) -> Any: ...


# -- helpers ------------------------------------------------------------------------------------
class HashingWriter(io.RawIOBase):
    """A binary file wrapper that hashes what passes through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.fh.write(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        self.fh.flush()


def write_hashed(fh: BinaryIO, sha: Any, data: memoryview) -> str:
    """Write ``data`` to ``fh``; return the digest of everything ``sha`` saw plus ``data``.

    Small buffers are fed to ``sha`` (a plain sha256 of the file). Large ones are hashed as a
    sha256 tree (sha256 of each 16 MB chunk, in parallel threads, then of the chunk digests)
    while they are written: ``write`` and ``sha256.update`` both release the GIL, so the
    digest costs little wall time on top of the write.
    """
    if data.nbytes < 4 * _CHUNK:
        sha.update(data)
        while data.nbytes:
            written = fh.write(data)
            data = data[written or 0 :]
        return str(sha.hexdigest())
    from concurrent.futures import ThreadPoolExecutor

    def chunk_digest(chunk: memoryview) -> bytes:
        return hashlib.sha256(chunk).digest()

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        for start in range(0, data.nbytes, _CHUNK):
            chunk = data[start : start + _CHUNK]
            futures.append(pool.submit(chunk_digest, chunk))
            while chunk.nbytes:
                written = fh.write(chunk)
                chunk = chunk[written or 0 :]
        tree = hashlib.sha256(b"kale-like-sha256-tree-v1\0" + sha.digest())
        for future in futures:
            tree.update(future.result())
    return tree.hexdigest()


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def tree_digest(directory: Path, skip: tuple[str, ...] = ("meta.json",)) -> str:
    """Digest of every file under ``directory`` (relative names included), in sorted order."""
    sha = hashlib.sha256()
    for p in sorted(q for q in directory.rglob("*") if q.is_file() and q.name not in skip):
        sha.update(str(p.relative_to(directory)).encode("utf-8") + b"\0")
        sha.update(file_digest(p).encode("ascii"))
    return sha.hexdigest()


def _type_root(value: Any) -> str:
    return (type(value).__module__ or "").split(".", 1)[0]


def _mro_roots(value: Any) -> set[str]:
    return {(c.__module__ or "").split(".", 1)[0] for c in type(value).__mro__}


# -- pickling with notebook-defined names by reference -------------------------------------------
# Objects the runtime replays in every step (classes and functions of the imports/functions
# cells) pickle by reference to ``__main__``: the consumer's own replayed class is then the
# class of the loaded instance, exactly as in a top-to-bottom run. Everything else defined in
# ``__main__`` (lambdas, closures, step-defined classes) travels by value (cloudpickle).
_BY_REFERENCE: dict[int, Any] = {}


def pickle_by_reference(objects: list[Any]) -> None:
    """Declare the objects (classes/functions replayed in every step) to pickle by name."""
    _BY_REFERENCE.clear()
    for obj in objects:
        _BY_REFERENCE[id(obj)] = obj


def _pickler_class() -> Any:
    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if id(obj) in _BY_REFERENCE and _BY_REFERENCE[id(obj)] is obj:
                return NotImplemented  # plain pickle: by module + qualname
            return super().reducer_override(obj)

    return Pickler


def pickle_dump(value: Any, fh: Any) -> None:
    _pickler_class()(fh, protocol=5).dump(value)


def pickle_dumps(value: Any) -> bytes:
    buf = io.BytesIO()
    pickle_dump(value, buf)
    return buf.getvalue()


def pickle_load(fh: Any) -> Any:
    import pickle

    return pickle.load(fh)


# -- built-in backends ------------------------------------------------------------------------
def json_exact(value: Any, budget: list[int] | None = None) -> bool:
    """True when JSON gives back exactly ``value``: same types (no tuples, str keys only)."""
    budget = budget if budget is not None else [200_000]
    budget[0] -= 1
    if budget[0] < 0:
        return False  # very large containers are faster and just as exact as pickle
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return True
    if t is float:
        return math.isfinite(value)
    if t is list:
        return all(json_exact(v, budget) for v in value)
    if t is dict:
        return all(type(k) is str and json_exact(v, budget) for k, v in value.items())
    return False


class JsonBackend:
    name = "json"

    def accepts(self, value: Any) -> bool:
        return json_exact(value)

    def save(self, value: Any, directory: Path) -> str:
        data = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        (directory / "value.json").write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def load(self, directory: Path) -> Any:
        return json.loads((directory / "value.json").read_text(encoding="utf-8"))


class NumpyBackend:
    name = "numpy"

    def accepts(self, value: Any) -> bool:
        if "numpy" not in sys.modules:
            return False
        np = sys.modules["numpy"]
        return type(value) is np.ndarray and not value.dtype.hasobject

    def save(self, value: Any, directory: Path) -> str:
        import numpy as np

        fmt = np.lib.format
        # Unbuffered: chunks of the array go straight to write(2), never through a buffer.
        with open(directory / "value.npy", "wb", buffering=0) as fh:
            out = HashingWriter(fh)
            flat = None
            if value.flags.c_contiguous:
                flat = value.reshape(-1)
            elif value.flags.f_contiguous:
                flat = value.T.reshape(-1)
            if flat is None:
                np.save(out, value, allow_pickle=False)  # rare: strided views
            else:
                header = fmt.header_data_from_array_1_0(value)
                try:
                    fmt.write_array_header_1_0(out, header)
                except ValueError:
                    fmt.write_array_header_2_0(out, header)
                # Stream the array's own buffer: no copy of a large array in memory.
                mv = memoryview(flat.view(np.uint8)) if flat.size else memoryview(b"")
                return write_hashed(fh, out.sha, mv)
            return out.sha.hexdigest()

    def load(self, directory: Path) -> Any:
        import numpy as np

        return np.load(directory / "value.npy", mmap_mode=None, allow_pickle=False)


class PandasBackend:
    """DataFrame/Series as parquet when pyarrow is present and a sample survives the trip."""

    name = "pandas"

    def accepts(self, value: Any) -> bool:
        if "pandas" not in sys.modules:
            return False
        pd = sys.modules["pandas"]
        return type(value) in (pd.DataFrame, pd.Series)

    @staticmethod
    def _as_frame(value: Any) -> tuple[Any, dict[str, Any]] | None:
        import pandas as pd

        meta: dict[str, Any] = {}
        if isinstance(value, pd.Series):
            if value.name is not None and type(value.name) is not str:
                return None
            meta = {"series": True, "name": value.name}
            value = value.to_frame(name="__series__")
        cols = list(value.columns)
        if any(type(c) is not str for c in cols) or len(set(cols)) != len(cols):
            return None
        if value.attrs:
            return None
        return value, meta

    @staticmethod
    def _parquet_ok(frame: Any) -> bool:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return False
        import pandas as pd

        for name in frame.columns:
            col = frame[name]
            if col.dtype == object and pd.api.types.infer_dtype(col, skipna=False) not in (
                "empty",
                "bytes",
            ):
                return False
        sample = frame.head(200)
        try:
            buf = io.BytesIO()
            sample.to_parquet(buf)
            buf.seek(0)
            back = pd.read_parquet(buf)
        except Exception:
            return False
        try:
            pd.testing.assert_frame_equal(sample, back, check_exact=True, check_freq=False)
        except AssertionError:
            return False
        return True

    def save(self, value: Any, directory: Path) -> str:
        framed = self._as_frame(value)
        if framed is not None and self._parquet_ok(framed[0]):
            frame, meta = framed
            frame.to_parquet(directory / "value.parquet")
            (directory / "pandas.json").write_text(json.dumps(meta), encoding="utf-8")
            return file_digest(directory / "value.parquet")
        with open(directory / "value.pkl", "wb") as fh:
            out = HashingWriter(fh)
            value.to_pickle(out, compression=None)
            return out.sha.hexdigest()

    def load(self, directory: Path) -> Any:
        import pandas as pd

        if (directory / "value.pkl").exists():
            return pd.read_pickle(directory / "value.pkl", compression=None)
        frame = pd.read_parquet(directory / "value.parquet")
        meta = json.loads((directory / "pandas.json").read_text(encoding="utf-8"))
        if meta.get("series"):
            series = frame["__series__"]
            series.name = meta.get("name")
            return series
        return frame


class JoblibBackend:
    name = "joblib"
    roots = ("sklearn", "xgboost", "lightgbm")

    def accepts(self, value: Any) -> bool:
        return bool(_mro_roots(value) & set(self.roots))

    def save(self, value: Any, directory: Path) -> str:
        import joblib

        joblib.dump(value, directory / "value.joblib")
        return file_digest(directory / "value.joblib")

    def load(self, directory: Path) -> Any:
        import joblib

        return joblib.load(directory / "value.joblib")


class TorchBackend:
    name = "torch"

    def accepts(self, value: Any) -> bool:
        if "torch" not in sys.modules:
            return False
        torch = sys.modules["torch"]
        return isinstance(value, (torch.Tensor, torch.nn.Module))

    def save(self, value: Any, directory: Path) -> str:
        import torch

        torch.save(value, directory / "value.pt")
        return file_digest(directory / "value.pt")

    def load(self, directory: Path) -> Any:
        import torch

        return torch.load(directory / "value.pt", weights_only=False)


class KerasBackend:
    name = "keras"

    def accepts(self, value: Any) -> bool:
        keras = sys.modules.get("keras")
        return keras is not None and isinstance(value, keras.Model)

    def save(self, value: Any, directory: Path) -> str:
        value.save(directory / "value.keras")
        return file_digest(directory / "value.keras")

    def load(self, directory: Path) -> Any:
        import keras

        return keras.models.load_model(directory / "value.keras")


class PickleBackend:
    """The fallback: cloudpickle (lambdas, closures, instances of notebook classes)."""

    name = "cloudpickle"

    def accepts(self, value: Any) -> bool:
        return True

    def save(self, value: Any, directory: Path) -> str:
        with open(directory / "value.pkl", "wb") as fh:
            out = HashingWriter(fh)
            pickle_dump(value, out)
            return out.sha.hexdigest()

    def load(self, directory: Path) -> Any:
        with open(directory / "value.pkl", "rb") as fh:
            return pickle_load(fh)


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
            TorchBackend(),
            KerasBackend(),
            PickleBackend(),
        ]
    )


registry = default_registry()
