"""Content-addressed step cache: keys, lookups, and atomic commits.

A key is the sha256 of everything that can change what a step computes: its code (cells and
prelude), the local modules it imports, the digests of its input variables and carried
state, the parameters it reads, the Python version and the versions of the distributions it
imports. An entry is a directory ``cache/<key>/`` renamed into place only when complete, so
Ctrl-C or a kill never leaves a half-written entry behind (partial work stays under
``cache/.tmp/<pid>-...`` and is swept by the next run).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...local_modules import local_module_files
from ...model import Pipeline, Step

META = "meta.json"
OUTPUTS = "outputs"  # the entry's saved values (as the scheduler lays it out)
KEY_VERSION = 1


def digest_path(path: Path) -> str:
    """sha256 of a file, or of a directory tree (relative names + contents, sorted)."""
    h = hashlib.sha256()
    if path.is_file():
        _hash_file(h, path)
    elif path.is_dir():
        for sub in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(sub.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _hash_file(h, sub)
    else:
        h.update(b"<missing>")
    return h.hexdigest()


def _hash_file(h: Any, path: Path) -> None:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def code_hash(pipeline: Pipeline, step: Step) -> str:
    """sha256 of the step's cells, the prelude it replays, and what it saves."""
    h = hashlib.sha256()
    prelude = pipeline.prelude_for(step)  # a composed step replays its own notebook's
    for part in (*prelude.imports, "\0imports-end\0", *prelude.functions):
        h.update(part.encode("utf-8") + b"\0")
    h.update(b"\0step\0" + step.code_digest.encode("ascii"))
    # What the step promises to save: two steps with the same cells but different outputs
    # (or metrics) must not share an entry.
    contract = {
        "name": step.name,
        "outputs": list(step.outputs),
        "metrics": list(step.metrics),
        "report": step.settings.report is not False,
    }
    h.update(json.dumps(contract, sort_keys=True).encode("utf-8"))
    return h.hexdigest()


def modules_hash(base_dir: Path | None, modules: tuple[str, ...]) -> str:
    """sha256 of the files of the local helper modules a step imports (names and contents)."""
    h = hashlib.sha256()
    for name in sorted({m.split(".")[0] for m in modules}):
        for path in local_module_files(base_dir, name) or ():
            rel = path.relative_to(base_dir) if base_dir is not None else path
            h.update(rel.as_posix().encode("utf-8") + b"\0")
            _hash_file(h, path)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    try:
        return {k: sorted(set(v)) for k, v in packages_distributions().items()}
    except Exception:  # broken metadata in the environment must not stop a run
        return {}


@functools.lru_cache(maxsize=512)
def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def package_versions(modules: tuple[str, ...], base_dir: Path | None = None) -> dict[str, str]:
    """Distribution -> version for the top-level modules a step imports.

    The standard library and modules beside the notebook (hashed by content instead) are
    left out; a module is first looked up as a distribution of the same name, and only
    otherwise in the (slower to build) module -> distributions map.
    """
    out: dict[str, str] = {}
    for name in sorted({m.split(".")[0] for m in modules}):
        if name in sys.stdlib_module_names or name in sys.builtin_module_names:
            continue
        if local_module_files(base_dir, name) is not None:
            continue
        same = _dist_version(name)
        if same != "?":
            out[name] = same
            continue
        for dist in _distributions().get(name, ()):
            out[dist] = _dist_version(dist)
    return out


def cache_key(
    *,
    code: str,
    modules: str,
    inputs: dict[str, str],
    state: dict[str, str],
    parameters: dict[str, Any],
    upstream: dict[str, str],
    packages: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> str:
    """The step's cache key (hex sha256) from its already-hashed ingredients.

    ``extra`` (upstream workspaces, notebook files read) joins only when non-empty, so
    keys of steps without file I/O stay as they were.
    """
    blob = json.dumps(
        {
            **({"extra": extra} if extra else {}),
            # verify's seeded RNG start (KALE_LIKE_SEED) computes other values: its own key
            **({"seed": os.environ["KALE_LIKE_SEED"]} if os.environ.get("KALE_LIKE_SEED") else {}),
            "v": KEY_VERSION,
            "code": code,
            "modules": modules,
            "inputs": inputs,
            "state": state,
            "parameters": parameters,
            "upstream": upstream,  # keys of `prev:` predecessors that pass no data
            "python": sys.version,
            "packages": packages,
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A committed cache entry: ``path`` holds outputs/, state, report files and meta.json."""

    key: str
    path: Path
    meta: dict[str, Any]

    @property
    def outputs(self) -> dict[str, str]:
        return dict(self.meta.get("outputs", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics", {}))


class Cache:
    """The cache directory of one run root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_root = root / ".tmp"
        # key -> why its entry was discarded at lookup (damaged files); the scheduler
        # reports it as the reason the step ran again.
        self.damaged: dict[str, str] = {}

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> Entry | None:
        path = self.entry_dir(key)
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        why = damaged_outputs(path / OUTPUTS)
        if why is not None:  # a cut or missing value file: never use it, recompute
            self.damaged[key] = why
            self._discard_entry(path)
            return None
        return Entry(key, path, meta)

    def _discard_entry(self, path: Path) -> None:
        """Move a damaged entry aside (swept like a partial one) so no run uses it again."""
        trash = self.tmp_root / f"old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            self.tmp_root.mkdir(parents=True, exist_ok=True)
            os.rename(path, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def begin(self, key: str) -> Path:
        """A fresh private directory where a step writes a would-be entry."""
        tmp = self.tmp_root / f"{os.getpid()}-{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        return tmp

    def commit(self, key: str, tmp: Path, meta: dict[str, Any]) -> Entry:
        """Write meta.json, then rename ``tmp`` into place (replacing an older entry)."""
        (tmp / META).write_text(json.dumps(meta, indent=2, default=repr), encoding="utf-8")
        final = self.entry_dir(key)
        try:
            os.rename(tmp, final)
        except OSError:
            # An entry with this key exists (a --no-cache re-run, or a concurrent run):
            # move the old one aside first so readers never see a mix of both.
            trash = self.tmp_root / f"old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(final, trash)
            except OSError:
                pass
            os.rename(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        return Entry(key, final, meta)

    def discard(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    def sweep(self) -> None:
        """Remove partial entries left by processes that no longer exist."""
        if not self.tmp_root.is_dir():
            return
        for path in self.tmp_root.iterdir():
            pid_text = path.name.split("-")[1 if path.name.startswith("old-") else 0]
            if not pid_text.isdigit() or not _alive(int(pid_text)):
                shutil.rmtree(path, ignore_errors=True)


def damaged_outputs(outputs: Path) -> str | None:
    """Why an entry's saved values differ from what was saved, or None: every file's size
    (a ``stat``) and the digests recorded for small files (up to 16 MB each), so a damaged
    entry is recomputed instead of failing every consumer that loads it."""
    from ...runtime.artifacts import damage

    if not outputs.is_dir():
        return None
    for var in sorted(outputs.iterdir()):
        if not (var / "meta.json").is_file():
            continue  # not written by the step runtime (e.g. a test executor): nothing to check
        try:
            meta = json.loads((var / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"the saved value {var.name!r} has an unreadable meta.json"
        why = damage(var, meta)
        if why is not None:
            return f"the saved value {var.name!r} is damaged ({why})"
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
