"""Files handed between steps through the working directory: the ``workspace`` artifact.

A notebook run top to bottom shares one folder: a cell that writes ``data/train.csv`` feeds
a later cell that reads it. Steps run in separate processes, containers or pods, so the
runtime carries those files itself, the same way in every engine:

* before a step's cells, the workspaces of its upstream steps are restored into its working
  directory (in topological order, so a later writer wins as top to bottom) and the
  directory is snapshotted (names, sizes, mtimes);
* after its cells, a second snapshot gives the new, changed and deleted files; they are
  saved as the step's ``workspace`` artifact: a directory with ``manifest.json`` and the
  files under ``files/``. Deleted files are listed and deleted again in consumers.

Artifacts are size-limited (``$KALE_LIKE_WORKSPACE_LIMIT``, default 1 GiB): above it the
biggest files stay behind and a warning names the step and the files.
What a step reads from outside its inputs (files anywhere, folders listed, network,
subprocesses) is recorded by :mod:`kale_like.runtime.reads` and saved in the manifest
(``reads``), so the local cache can tell when an entry went stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import reads as reads_mod
from .read_recorder import Recorder
from .snapshot import (
    DIR,
    SKIP_DIRS,
    Snapshot,
    changes,
    fingerprint,
    sha256_file,
    skip_dir,
    snapshot,
)

__all__ = [
    "DEFAULT_LIMIT",
    "SKIP_DIRS",
    "Snapshot",
    "WorkspaceSummary",
    "fingerprint",
    "isolated_workdir",
    "mirror",
    "parse_limit",
    "restore",
    "save",
    "snapshot",
]

DEFAULT_LIMIT = 1 << 30  # 1 GiB
ENV_LIMIT = "KALE_LIKE_WORKSPACE_LIMIT"
MANIFEST = "manifest.json"
FILES = "files"
APP_DIR = "/opt/kale-like/app"  # where a built image carries the notebook folder's files


@dataclass
class WorkspaceSummary:
    """What a step's workspace artifact holds."""

    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    dirs: list[str] = field(default_factory=list)  # new folders
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # path -> size, above the limit
    reads: dict[str, Any] = field(default_factory=dict)  # runtime.reads.Reads.to_json()
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "dirs": self.dirs,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "reads": self.reads,
            "bytes": self.bytes,
        }


def parse_limit(text: str | None) -> int:
    """Bytes from ``"1GiB"``, ``"500M"``, ``"2048"``; empty or invalid -> the default."""
    if not text:
        return DEFAULT_LIMIT
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    s = text.strip().lower().removesuffix("b").removesuffix("i")
    num, unit = (s[:-1], s[-1]) if s and s[-1] in units else (s, "")
    try:
        return max(0, int(float(num) * units[unit]))
    except ValueError:
        return DEFAULT_LIMIT


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def save(
    root: str | os.PathLike[str],
    before: Snapshot,
    after: Snapshot,
    out_dir: str | os.PathLike[str],
    *,
    step: str,
    limit: int | None = None,
    reads: dict[str, Any] | None = None,
) -> WorkspaceSummary:
    """Write the step's changed files and deletions to ``out_dir`` (manifest + files/)."""
    limit = parse_limit(os.environ.get(ENV_LIMIT)) if limit is None else limit
    changed, deleted = changes(before, after)
    summary = WorkspaceSummary(deleted=deleted, reads=dict(reads or {}))
    summary.dirs = sorted(p for p, st in after.items() if st == DIR and p not in before)
    # Smallest first: above the limit the biggest files stay behind, the most files travel.
    total = 0
    for rel in sorted(changed, key=lambda p: (after[p].size, p)):
        size = after[rel].size
        if limit and total + size > limit:
            summary.skipped[rel] = size
            continue
        total += size
    out = Path(out_dir)
    if out.is_file():  # KFP may pre-create the artifact path as a file
        out.unlink()
    (out / FILES).mkdir(parents=True, exist_ok=True)
    for rel in changed:
        if rel in summary.skipped:
            continue
        src = os.path.join(os.fspath(root), rel)
        dst = out / FILES / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(src, dst)  # copy2: the mtime travels, so consumers do not re-send it
        except OSError:
            continue
        summary.files[rel] = sha256_file(os.fspath(dst))
    summary.bytes = sum(after[p].size for p in summary.files)
    (out / MANIFEST).write_text(
        json.dumps({"step": step, **summary.to_json()}, indent=1, sort_keys=True),
        encoding="utf-8",
    )
    if summary.skipped:
        print(limit_warning(step, summary.skipped, limit, total), file=sys.stderr)
    return summary


def limit_warning(step: str, skipped: dict[str, int], limit: int, kept: int) -> str:
    """The warning for files left out of a workspace: the step, the biggest files, the fix."""
    biggest = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{p} ({_human(s)})" for p, s in biggest[:5])
    more = f" and {len(biggest) - 5} more" if len(biggest) > 5 else ""
    return (
        f"kale-like: warning: step {step!r} wrote {_human(sum(skipped.values()) + kept)} of "
        f"files, above the workspace limit of {_human(limit)}; not passed to later steps: "
        f"{shown}{more}. Fix: raise {ENV_LIMIT} (e.g. {ENV_LIMIT}=4GiB), or write large files "
        "to a mounted volume (volume: tag) and read them from there."
    )


def read_manifest(ws_dir: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        data = json.loads((Path(ws_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def restore(ws_dirs: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str]) -> list[str]:
    """Apply upstream workspaces to ``root`` in order: files copied in, deletions applied.

    Returns the restored paths. A missing or empty artifact is nothing to restore.
    """
    restored: list[str] = []
    base = os.fspath(root)
    for ws in ws_dirs:
        manifest = read_manifest(ws)
        for rel in manifest.get("dirs", []):
            if _safe(rel):
                _remove(os.path.join(base, rel))  # a file where a later folder is
                os.makedirs(os.path.join(base, rel), exist_ok=True)
        for rel in manifest.get("deleted", []):
            if _safe(rel):
                _remove(os.path.join(base, rel))
        for rel in manifest.get("files", {}):
            if not _safe(rel):
                continue
            dst = os.path.join(base, rel)
            os.makedirs(os.path.dirname(dst) or base, exist_ok=True)
            _remove(dst)  # a mirrored symlink must not be written through
            shutil.copy2(Path(ws) / FILES / rel, dst)
            restored.append(rel)
    return restored


def _safe(rel: str) -> bool:
    """A manifest path stays inside the working directory."""
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts


def mirror(seed: str | os.PathLike[str], dest: str | os.PathLike[str]) -> int:
    """Seed ``dest`` with ``seed``'s files as symlinks (folders as real folders).

    The step sees the notebook folder's files as top to bottom, while new files land in
    ``dest`` only. Returns the number of files linked.
    """
    count = 0
    src_root, dst_root = os.fspath(seed), os.fspath(dest)
    todo = [""]
    os.makedirs(dst_root, exist_ok=True)
    while todo:
        rel = todo.pop()
        try:
            entries = list(os.scandir(os.path.join(src_root, rel)))
        except OSError:
            continue
        for entry in entries:
            sub = os.path.join(rel, entry.name)
            target = os.path.join(dst_root, sub)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if skip_dir(entry) or entry.name.startswith("."):
                        continue
                    os.makedirs(target, exist_ok=True)
                    todo.append(sub)
                elif entry.is_file() and not os.path.lexists(target):
                    os.symlink(os.path.abspath(entry.path), target)
                    count += 1
            except OSError:
                continue
    return count


def seed_dir() -> str | None:
    """The folder a step's working directory starts from in a KFP component.

    In an image built by kale-like, the notebook folder's files it carries; elsewhere
    (kfp.local) the working directory the runner started the step in — never ``/``.
    """
    if os.environ.get("KALE_LIKE_IMAGE") and os.path.isdir(APP_DIR):
        return APP_DIR
    cwd = os.getcwd()
    return None if cwd == os.path.abspath(os.sep) else cwd


@contextlib.contextmanager
def isolated_workdir(step: str) -> Iterator[str]:
    """A private working directory seeded like a container's, removed afterwards."""
    old = os.getcwd()
    seed = seed_dir()
    work = tempfile.mkdtemp(prefix=f"kale-like-{step[:40]}-")
    if seed is not None:
        mirror(seed, work)
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(old)
        shutil.rmtree(work, ignore_errors=True)


def seed_links(root: str, snap: Snapshot | None = None) -> list[str]:
    """Relative paths of the symlinks a mirror put under ``root``."""
    out = []
    for rel, st in (snapshot(root) if snap is None else snap).items():
        if st != DIR and os.path.islink(os.path.join(root, rel)):
            out.append(rel)
    return out


class StepWorkspace:
    """The workspace side of one :func:`~kale_like.runtime.run_step` call.

    ``open()`` (before the prelude) enters the working directory, restores upstream
    workspaces and starts recording reads (local engine); ``before_cells()`` snapshots;
    ``after_cells()`` saves the artifact with the reads;
    ``close()`` leaves an isolated directory. All no-ops when the engine passes nothing.
    """

    def __init__(
        self,
        step: str,
        inputs: Sequence[str] = (),
        output: str | None = None,
        isolate: bool = False,
    ) -> None:
        self.step = step
        self.inputs = [os.path.abspath(p) for p in inputs]
        self.output = os.path.abspath(output) if output else None
        self.isolate = isolate
        self.root = ""
        self.before: Snapshot = {}
        self.recorder: Recorder | None = None
        self._stack = contextlib.ExitStack()

    @property
    def active(self) -> bool:
        return bool(self.inputs or self.output or self.isolate)

    def open(self) -> None:
        if self.isolate:
            self._stack.enter_context(isolated_workdir(self.step))
        self.root = os.getcwd()
        if self.inputs:
            restore(self.inputs, self.root)
        # The local engine checks what a step read before it reuses the step's cache entry;
        # KFP components (isolate) cache by KFP's own key, so nothing would read the record.
        if self.output is not None and not self.isolate and reads_mod.enabled():
            # From here on: the prelude's imports count too (a library on PYTHONPATH or
            # installed editable is read from its source folder, which no version pins).
            run_root = reads_mod.find_run_root(self.root, self.output)
            skip = [p for p in (run_root, os.path.dirname(self.output)) if p]
            self.recorder = Recorder(self.root, skip=skip).start()

    def before_cells(self) -> None:
        if self.output is None:
            return
        self.before = snapshot(self.root)
        if self.recorder is not None:  # where the working directory's links point
            self.recorder.base = reads_mod.seed_base(self.root, seed_links(self.root, self.before))

    def after_cells(self) -> WorkspaceSummary | None:
        if self.output is None:
            return None
        reads = self.recorder.stop().to_json() if self.recorder is not None else {}
        return save(
            self.root, self.before, snapshot(self.root), self.output, step=self.step, reads=reads
        )

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.active = False
        self._stack.close()
