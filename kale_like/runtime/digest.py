"""Content digests of live values: did a value change while a step ran?

:func:`digest` walks a value the way pickle would see its state, without pickling: array
and frame buffers are hashed in place (large ones with blake3 on every core when the package
is installed, else crc32: change detection, not security), containers of plain builtins go
through :mod:`marshal` (C speed), functions are their ``__dict__``, closure cells and
defaults, other objects their ``__reduce_ex__`` state (``__dict__``/slots for plain classes,
``getstate()`` for ``random.Random``, ...). Shared and cyclic references are visited once. A
value whose state cannot be read (a generator, a file, a lock) is digested by identity:
rebinding it is seen, changing it in place is not.
"""

from __future__ import annotations

import copyreg
import hashlib
import marshal
import sys
import types
import zlib
from typing import Any

_ATOMS = (type(None), bool, int, float, complex, str, bytes)
_PLAIN = (list, tuple, dict, set, frozenset)
_BIG = 1 << 16  # buffers above this are hashed on their own (blake3, else crc32)
_THREADED = 1 << 22  # blake3 spreads buffers above this over every core


def _load_blake3() -> Any:
    try:
        from blake3 import blake3
    except ImportError:  # the `data` extra is not installed
        return None
    return blake3


_blake3: Any = _load_blake3()

_IDENTITY_TYPES = (
    types.ModuleType,
    types.BuiltinFunctionType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.CodeType,
    types.FrameType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
)


class _Walker:
    def __init__(self) -> None:
        self.h = hashlib.sha1()
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps visited objects alive so ids stay unique

    def feed(self, tag: bytes, data: bytes | memoryview = b"") -> None:
        self.h.update(tag)
        self.h.update(len(data).to_bytes(8, "little"))
        self.h.update(data)

    def identity(self, obj: Any) -> None:
        self.feed(b"id", f"{type(obj).__qualname__}:{id(obj)}".encode())

    def buffer(self, data: memoryview) -> None:
        size = data.nbytes.to_bytes(8, "little")
        if data.nbytes <= _BIG:
            self.feed(b"buf", data)
        elif _blake3 is not None:
            threads = _blake3.AUTO if data.nbytes > _THREADED else 1
            self.feed(b"b3", _blake3(data, max_threads=threads).digest() + size)
        else:
            self.feed(b"crc", zlib.crc32(data).to_bytes(4, "little") + size)

    def walk(self, obj: Any) -> None:
        t = type(obj)
        if t in _ATOMS:
            self.feed(b"a", marshal.dumps(obj))
            return
        key = id(obj)
        if key in self.memo:
            self.feed(b"ref", self.memo[key].to_bytes(8, "little"))
            return
        self.memo[key] = len(self.memo)
        self.keep.append(obj)
        if t in _PLAIN:
            try:
                self.feed(t.__name__.encode(), marshal.dumps(obj))
                return
            except (ValueError, RecursionError):
                pass
            self.feed(t.__name__.encode(), len(obj).to_bytes(8, "little"))
            if t is dict:
                for k, v in obj.items():
                    self.walk(k)
                    self.walk(v)
            elif t in (set, frozenset):  # iteration order is not state: sorted digests
                for d in sorted(digest(v) for v in obj):
                    self.feed(b"el", d.encode())
            else:
                for v in obj:
                    self.walk(v)
            return
        module = t.__module__ or ""
        if module.startswith(("numpy", "pandas", "torch")) and self.special(obj, module):
            return
        if isinstance(obj, _IDENTITY_TYPES):
            self.identity(obj)
            return
        if isinstance(obj, types.FunctionType):
            self.function(obj)
            return
        if isinstance(obj, type):
            if obj.__module__ != "__main__":
                self.identity(obj)
                return
            self.feed(b"cls", obj.__qualname__.encode())
            for k, v in list(vars(obj).items()):
                if k not in ("__dict__", "__weakref__", "__doc__", "__module__"):
                    self.walk(k)
                    self.walk(v)
            return
        if isinstance(obj, types.MethodType):
            self.feed(b"meth", obj.__func__.__qualname__.encode())
            self.walk(obj.__self__)
            return
        self.reduced(obj)

    def function(self, fn: types.FunctionType) -> None:
        self.feed(b"fn", f"{fn.__qualname__}:{id(fn.__code__)}".encode())
        if fn.__module__ != "__main__":
            return  # library functions: identity is enough
        self.walk(fn.__dict__)
        self.walk(fn.__defaults__)
        self.walk(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            try:
                self.walk(cell.cell_contents)
            except ValueError:  # an empty cell
                self.feed(b"empty")

    def reduced(self, obj: Any) -> None:
        """Objects by the state pickle would save, read without pickling."""
        try:
            rv = obj.__reduce_ex__(4)
        except Exception:
            self.identity(obj)
            return
        if isinstance(rv, str) or not isinstance(rv, tuple):
            self.identity(obj)  # a global by name, or an odd reducer
            return
        func = rv[0]
        self.feed(b"obj", f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
        if func is not getattr(copyreg, "__newobj__", None) and func is not getattr(
            copyreg, "__newobj_ex__", None
        ):
            self.walk(func)
        for part in rv[1:]:
            if isinstance(part, types.GeneratorType) or (
                part is not None and hasattr(part, "__next__")
            ):
                part = list(part)
            self.walk(part)

    def special(self, obj: Any, module: str) -> bool:
        """numpy/pandas/torch values hashed from their buffers; False: not handled here."""
        if module.startswith("numpy"):
            np = sys.modules["numpy"]
            if isinstance(obj, np.ndarray):
                self.feed(b"nd", f"{obj.dtype.str}:{obj.shape}".encode())
                if obj.dtype.hasobject:
                    self.walk(obj.tolist())
                else:
                    arr = obj if obj.flags.c_contiguous else np.ascontiguousarray(obj)
                    self.buffer(memoryview(arr.reshape(-1).view(np.uint8)))
                return True
            if isinstance(obj, np.generic):
                self.feed(b"npg", f"{obj.dtype.str}".encode() + np.asarray(obj).tobytes())
                return True
            return False
        if module.startswith("pandas"):
            pd = sys.modules["pandas"]
            if isinstance(obj, pd.DataFrame):
                self.feed(b"df", str(obj.shape).encode())
                self.walk(obj.index)
                self.walk(obj.columns)
                for _, col in obj.items():
                    self.series_values(col)
                self.walk(dict(obj.attrs))
                return True
            if isinstance(obj, (pd.Series, pd.Index)):
                self.feed(b"ps", str(type(obj).__name__).encode())
                self.walk(obj.name)
                if isinstance(obj, pd.Series):
                    self.walk(obj.index)
                self.series_values(obj)
                return True
            return False
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            try:
                arr = obj.detach().cpu().contiguous()
                self.feed(b"tt", f"{arr.dtype}:{tuple(arr.shape)}:{obj.requires_grad}".encode())
                self.buffer(memoryview(arr.view(-1).view(torch.uint8).numpy()))
                return True
            except Exception:
                return False
        return False

    def series_values(self, s: Any) -> None:
        np = sys.modules["numpy"]
        self.feed(b"dt", str(s.dtype).encode())
        try:
            values = s.to_numpy(copy=False)
        except Exception:
            values = np.asarray(list(s), dtype=object)
        if isinstance(values, np.ndarray) and not values.dtype.hasobject:
            self.walk(values)
        else:
            self.walk(list(values))


def digest(value: Any) -> str:
    """A digest of ``value``'s current state (hex); equal before and after = unchanged."""
    w = _Walker()
    try:
        w.walk(value)
    except RecursionError:
        w = _Walker()
        w.identity(value)  # too deep to walk: identity only
    except Exception:
        w = _Walker()
        w.identity(value)
    return w.h.hexdigest()


def parts(value: Any) -> dict[str, str]:
    """Per-part digests of a function (``dict``, ``defaults``, ``kwdefaults``, ``cell:N``) or
    of any other object (``state``): what a prelude patch must carry."""
    if isinstance(value, types.FunctionType):
        out = {
            "dict": digest(value.__dict__),
            "defaults": digest(value.__defaults__),
            "kwdefaults": digest(value.__kwdefaults__),
        }
        for i, cell in enumerate(value.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:
                out[f"cell:{i}"] = "empty"
                continue
            # A wrapper that refers to itself (`wrapper.calls += 1`): its state is `dict`.
            out[f"cell:{i}"] = "self" if contents is value else digest(contents)
        return out
    return {"state": digest(value)}
