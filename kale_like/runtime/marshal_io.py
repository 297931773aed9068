"""Byte-level helpers of the marshal registry: hashing writers, digests, pickling.

Pickling goes through cloudpickle, except for the objects the runtime replays in every step
(classes and functions of the imports/functions cells): those pickle by reference to
``__main__``, so a loaded instance is an instance of the consumer's own replayed class.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import types
from collections.abc import Mapping
from typing import Any, BinaryIO

from ..fsutil import file_digest  # noqa: F401 - re-exported (marshal, artifacts)

_CHUNK = 16 << 20


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


def _blake3() -> Any:
    """The ``blake3`` hasher class if the package is installed (the ``data`` extra)."""
    try:
        from blake3 import blake3
    except ImportError:
        return None
    return blake3


def _spare_cores() -> int:
    """Cores not busy with other work: hashing on a busy core only slows the write down."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(0, min(4, int(cores - busy)))


def write_array(fh: BinaryIO | None, sha: Any, flat: Any) -> str:
    """Write the C-contiguous 1-d array ``flat`` to ``fh``; return the data's digest.

    ``sha`` has seen what precedes the data in the file (the .npy header). Small arrays give
    the plain sha256 of the file. Large ones give ``"blake3:<hex>"`` when the blake3 package
    is installed, else a sha256 tree (the sha256 of each 16 MB chunk, then of the chunk
    digests). The hash runs on other threads while ``ndarray.tofile`` writes (both release
    the GIL), so on a machine with a free core the digest costs no wall time. Without ``fh``
    nothing is written: the digest of a live array, equal to what saving it would return.
    """
    import threading

    import numpy as np

    def write() -> None:
        if fh is not None:
            flat.tofile(fh)

    data = memoryview(flat.view(np.uint8)) if flat.size else memoryview(b"")
    if data.nbytes < 4 * _CHUNK:
        sha.update(data)
        write()
        return str(sha.hexdigest())
    fast = _blake3()
    if fast is not None:
        seed = b"kale-like-blake3-v1\0" + sha.digest()
        if fh is None:  # nothing to overlap with: every core hashes (same digest)
            live = fast(seed, max_threads=fast.AUTO)
            live.update(data)
            return "blake3:" + str(live.hexdigest())
        b3 = fast(seed)
        worker = threading.Thread(target=b3.update, args=(data,), daemon=True)
        worker.start()
        write()
        worker.join()
        return "blake3:" + str(b3.hexdigest())
    chunks = [data[i : i + _CHUNK] for i in range(0, data.nbytes, _CHUNK)]
    digests: list[bytes] = [b""] * len(chunks)

    def hash_chunks(which: range) -> None:
        for i in which:
            digests[i] = hashlib.sha256(chunks[i]).digest()

    workers = max(1, _spare_cores())
    threads = [
        threading.Thread(target=hash_chunks, args=(range(k, len(chunks), workers),), daemon=True)
        for k in range(workers)
    ]
    for t in threads:
        t.start()
    write()
    for t in threads:
        t.join()
    tree = hashlib.sha256(b"kale-like-sha256-tree-v1\0" + sha.digest())
    for d in digests:
        tree.update(d)
    return tree.hexdigest()


def _mro_roots(value: Any) -> set[str]:
    return {(c.__module__ or "").split(".", 1)[0] for c in type(value).__mro__}


# -- pickling with notebook-defined names by reference -------------------------------------------
# Objects the runtime replays in every step (classes and functions of the imports/functions
# cells) pickle by reference to ``__main__``: the consumer's own replayed class is then the
# class of the loaded instance, exactly as in a top-to-bottom run. Everything else defined in
# ``__main__`` (lambdas, closures, step-defined classes) travels by value (cloudpickle): a
# value holding an instance of a step-defined class (``class Net(nn.Module)`` in a step
# cell) is never handed to a by-reference backend (torch.save, joblib): holds_step_class.
_BY_REFERENCE: dict[int, Any] = {}


def pickle_by_reference(objects: list[Any]) -> None:
    """Declare the objects (classes/functions replayed in every step) to pickle by name."""
    _BY_REFERENCE.clear()
    for obj in objects:
        _BY_REFERENCE[id(obj)] = obj


def pickle_new_definitions(namespace: Mapping[str, Any], before: Mapping[str, Any]) -> None:
    """Pickle by reference the classes/functions ``__main__`` defined since ``before``."""
    pickle_by_reference(
        [
            v
            for k, v in namespace.items()
            if isinstance(v, (type, types.FunctionType))
            and before.get(k) is not v
            and getattr(v, "__module__", None) == "__main__"
        ]
    )


_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None))
_WALK_BUDGET = 10_000


def holds_step_class(value: Any) -> bool:
    """Whether ``value`` is, or holds, an instance of a class a step cell defined.

    Such a class exists in ``__main__`` of the producing step only: pickled by reference
    (as ``torch.save`` and ``joblib.dump`` do) the consumer cannot find it
    (``Can't get attribute 'Net' on <module '__main__'>``). Classes replayed in every step
    (imports/functions cells, :func:`pickle_by_reference`) are fine. A bounded walk through
    containers and instance attributes (an ``nn.Module``'s sub-modules, a scikit-learn
    pipeline's steps).
    """
    seen: set[int] = set()
    stack = [value]
    budget = _WALK_BUDGET
    while stack and budget > 0:
        obj = stack.pop()
        if isinstance(obj, _ATOMS) or id(obj) in seen:
            continue
        budget -= 1
        seen.add(id(obj))
        cls = obj if isinstance(obj, type) else type(obj)
        if getattr(cls, "__module__", None) == "__main__" and id(cls) not in _BY_REFERENCE:
            return True
        if isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            if len(obj) <= budget:
                stack.extend(obj)
        else:
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                stack.extend(attrs.values())
    return False


# -- functions defined in the notebook keep the notebook's namespace -------------------------------
# In a notebook every function a cell defines looks its globals up in ``__main__``: a
# ``global counter; counter += 1`` inside it changes the notebook's ``counter``. cloudpickle
# gives a function it pickles by value a fresh globals dict instead, so after a step boundary
# such a function would change a private copy (the step's ``counter`` stays put). The pickler
# below writes a stand-in for ``__main__``'s namespace; a step process that bound its own
# (:func:`bind_main`) gets the live one back, anything else (a comparison in the CLI
# process) a fresh dict as before.
_LIVE_MAIN: dict[str, Any] | None = None


def bind_main(namespace: dict[str, Any] | None) -> None:
    """Functions unpickled from now on take ``namespace`` as their globals (None: a fresh dict)."""
    global _LIVE_MAIN
    _LIVE_MAIN = namespace


def main_globals() -> dict[str, Any]:
    """The globals of an unpickled notebook function (named in pickles: keep it importable)."""
    return _LIVE_MAIN if _LIVE_MAIN is not None else {"__name__": "__main__"}


class _MainNamespace:
    """Pickles as a call of :func:`main_globals`; one per pickle, so its functions share it."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (main_globals, ())


def set_function_state(func: Any, state: Any) -> None:
    """cloudpickle's state setter, except that the globals a function carried never replace
    a name the live namespace already has: the receiving step binds its own values."""
    from cloudpickle import cloudpickle as cp

    live: dict[str, Any] = func.__globals__
    if _LIVE_MAIN is None or live is not _LIVE_MAIN:
        cp._function_setstate(func, state)
        return
    attrs, slots = state
    carried = slots.get("__globals__") or {}
    for name, value in carried.items():
        live.setdefault(name, value)
    had = "__builtins__" in live
    builtins = live.get("__builtins__")
    cp._function_setstate(func, (attrs, {**slots, "__globals__": {}}))
    if had:  # cloudpickle sets its own module's __builtins__; the shell's stays
        live["__builtins__"] = builtins


def _pickler_class() -> Any:
    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._main = _MainNamespace()

        def reducer_override(self, obj: Any) -> Any:
            if id(obj) in _BY_REFERENCE and _BY_REFERENCE[id(obj)] is obj:
                return NotImplemented  # plain pickle: by module + qualname
            return super().reducer_override(obj)

        def _function_getnewargs(self, func: Any) -> Any:
            args = super()._function_getnewargs(func)
            if func.__globals__.get("__name__") != "__main__":
                return args
            return (args[0], self._main, *args[2:])

        def _dynamic_function_reduce(self, func: Any) -> Any:
            reduced = super()._dynamic_function_reduce(func)
            if len(reduced) == 6 and reduced[1][1] is self._main:
                return (*reduced[:5], set_function_state)
            return reduced

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
