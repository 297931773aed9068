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
from pathlib import Path
from typing import Any, BinaryIO

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


def _write_all(fh: BinaryIO, data: memoryview) -> None:
    while data.nbytes:
        written = fh.write(data)
        data = data[written or 0 :]


def _spare_cores() -> int:
    """Cores not busy with other work: hashing on a busy core only slows the write down."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(0, min(4, int(cores - busy)))


def _blake3() -> Any:
    """The ``blake3`` hasher class if the package is installed (the ``data`` extra)."""
    try:
        from blake3 import blake3
    except ImportError:
        return None
    return blake3


def write_hashed(fh: BinaryIO, sha: Any, data: memoryview) -> str:
    """Write ``data`` to ``fh``; return the digest of everything ``sha`` saw plus ``data``.

    Small buffers are fed to ``sha`` (a plain sha256 of the file). Large ones get
    ``"blake3:<hex>"`` when the blake3 package is installed (hashed 1 MB at a time, each piece
    written while still in the CPU cache), else a sha256 tree (the sha256 of each 16 MB chunk,
    then of the chunk digests): with a spare core the chunks hash on threads while earlier
    ones are written (``write`` and ``sha256.update`` release the GIL); otherwise each is
    hashed and then written from the cache. The digest does not depend on the threads.
    """
    if data.nbytes < 4 * _CHUNK:
        sha.update(data)
        _write_all(fh, data)
        return str(sha.hexdigest())
    fast = _blake3()
    if fast is not None:
        # BLAKE3 (a cryptographic hash ~5x faster than sha256 per core) when installed.
        b3 = fast(b"kale-like-blake3-v1\0" + sha.digest())
        for i in range(0, data.nbytes, 1 << 20):
            piece = data[i : i + (1 << 20)]
            b3.update(piece)
            _write_all(fh, piece)
        return "blake3:" + str(b3.hexdigest())
    tree = hashlib.sha256(b"kale-like-sha256-tree-v1\0" + sha.digest())
    chunks = [data[i : i + _CHUNK] for i in range(0, data.nbytes, _CHUNK)]
    spare = _spare_cores()
    if spare < 1:
        for chunk in chunks:
            sha_chunk = hashlib.sha256()
            # 1 MB pieces: each is written while still in the CPU cache after hashing.
            for i in range(0, chunk.nbytes, 1 << 20):
                piece = chunk[i : i + (1 << 20)]
                sha_chunk.update(piece)
                _write_all(fh, piece)
            tree.update(sha_chunk.digest())
        return tree.hexdigest()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=spare) as pool:
        futures = [pool.submit(lambda c: hashlib.sha256(c).digest(), c) for c in chunks]
        for chunk in chunks:
            _write_all(fh, chunk)
        for future in futures:
            tree.update(future.result())
    return tree.hexdigest()


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
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
