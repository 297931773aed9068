"""The built-in marshalling backends (see :mod:`kale_like.runtime.marshal`)."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO, cast

from . import marshal_io
from .marshal_io import (
    HashingWriter,
    _mro_roots,
    file_digest,
    holds_step_class,
    json_exact,
    pickle_dump,
    pickle_load,
    write_array,
)


class _Discard(io.RawIOBase):
    """A sink for bytes that are hashed, not kept."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes


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
        with open(directory / "value.npy", "wb") as fh:
            return self._write(value, fh)

    def digest_of(self, value: Any) -> str | None:
        """The digest :meth:`save` returns for ``value`` now, computed without writing: a
        loaded array compared with its saved digest (write detection, runtime/observe.py)."""
        if not self.accepts(value):
            return None
        return self._write(value, None)

    def reproduces(self, value: Any, digest: str) -> bool:
        """Whether :meth:`digest_of` here hashes the loaded ``value`` as its saver hashed
        ``digest``. Small arrays: the sha256 of the file. Large ones only with blake3 on both
        sides: a plain hex digest is a sha256 tree (saved without blake3) or the sha256 of a
        strided view's file, which a loaded (contiguous) array does not reproduce."""
        if value.nbytes < 4 * marshal_io._CHUNK:
            return not digest.startswith("blake3:")
        return digest.startswith("blake3:") and marshal_io._blake3() is not None

    @staticmethod
    def _write(value: Any, fh: BinaryIO | None) -> str:
        """The .npy bytes of ``value`` to ``fh`` (None: hashed only); their digest."""
        import numpy as np

        fmt = np.lib.format
        out = HashingWriter(fh if fh is not None else cast(BinaryIO, _Discard()))
        flat = None
        if value.flags.c_contiguous:
            flat = value.reshape(-1)
        elif value.flags.f_contiguous:
            flat = value.T.reshape(-1)
        if flat is None:
            np.save(out, value, allow_pickle=False)  # rare: strided views
            return out.sha.hexdigest()
        header = fmt.header_data_from_array_1_0(value)
        try:
            fmt.write_array_header_1_0(out, header)
        except ValueError:
            fmt.write_array_header_2_0(out, header)
        out.flush()
        # The array's own buffer goes to the file (tofile) while it is hashed: no copy.
        return write_array(fh, out.sha, flat)

    def load(self, directory: Path) -> Any:
        import numpy as np

        return np.load(directory / "value.npy", mmap_mode=None, allow_pickle=False)

    def matches_saved(self, value: Any, directory: Path) -> bool:
        """Whether ``value`` holds exactly what ``directory`` holds (header and bytes): write
        detection's check of a loaded array, a compare with the file it was loaded from (in
        the page cache after the load; cheaper than hashing 400 MB, and exact)."""
        import mmap

        import numpy as np

        fmt = np.lib.format
        if not self.accepts(value):
            return False
        if value.flags.c_contiguous:
            flat = value.reshape(-1)
        elif value.flags.f_contiguous:
            flat = value.T.reshape(-1)
        else:
            return False  # a loaded array is contiguous: its strides were changed
        path = directory / "value.npy"
        with open(path, "rb") as fh:
            try:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = fmt.read_array_header_2_0(fh)
                else:
                    return False  # save() writes versions 1.0 and 2.0 only
            except (ValueError, TypeError):
                return False
            offset = fh.tell()
            saved = {"shape": shape, "fortran_order": fortran, "descr": fmt.dtype_to_descr(dtype)}
            if saved != fmt.header_data_from_array_1_0(value):
                return False
            if path.stat().st_size != offset + value.nbytes:
                return False
            if value.nbytes == 0:
                return True
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                unit = np.uint64 if value.nbytes % 8 == 0 else np.uint8
                disk = np.frombuffer(mm, dtype=unit, offset=offset)
                live = flat.view(np.uint8).view(unit)
                step = (4 << 20) // disk.itemsize  # 4 MB at a time: no large temporaries
                try:
                    return all(
                        np.array_equal(live[i : i + step], disk[i : i + step])
                        for i in range(0, live.size, step)
                    )
                finally:
                    del disk  # the mmap closes only once no array views it


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
        # joblib pickles classes by reference: a step-defined class goes to cloudpickle.
        return bool(_mro_roots(value) & set(self.roots)) and not holds_step_class(value)

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
        # torch.save pickles classes by reference: a step-defined class goes to cloudpickle.
        return isinstance(value, (torch.Tensor, torch.nn.Module)) and not holds_step_class(value)

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
        # A step-defined Model subclass is saved by name; the consumer cannot rebuild it.
        return keras is not None and isinstance(value, keras.Model) and not holds_step_class(value)

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
