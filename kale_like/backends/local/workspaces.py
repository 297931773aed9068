"""The local engine's side of workspaces (files handed between steps; see
:mod:`kale_like.runtime.workspace`).

Each step runs in a working directory of its own, ``RUN_DIR/steps/NAME/work``, seeded as a
container would be: the notebook folder's files (symlinked, so reading ``data/raw.csv``
works as top to bottom while new files stay private), then the runtime restores the
workspaces of every ancestor step in topological order. The step's own workspace is saved in
its cache entry. Cache keys take the ancestors' workspace digests and the content of the
notebook-folder files the step reads — by literal path (analysis) before the run, and as
observed at run time (checked when an entry is looked up).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...model import Pipeline, Step
from ...runtime import workspace as ws
from .plan import ancestors

WORKSPACE = "workspace"  # folder of a cache entry
WORKDIR = "work"  # folder of a step's run directory


def prepare_workdir(work: Path, base_dir: Path | None, writes: tuple[str, ...] = ()) -> None:
    """A fresh working directory seeded from the notebook folder.

    Files the step writes by literal path (``writes``) that exist beside the notebook are
    copied rather than linked, so writing them never changes the user's file.
    """
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if base_dir is not None and base_dir.is_dir():
        ws.mirror(base_dir, work)
    for rel in writes:
        link = work / rel
        if link.is_symlink() and link.is_file():
            target = link.resolve()
            link.unlink()
            shutil.copy2(target, link)


def upstream(pipeline: Pipeline, step: Step) -> list[str]:
    """Every ancestor of ``step``, in topological (pipeline) order."""
    found = ancestors(pipeline, {step.name})
    return [s for s in pipeline.step_names if s in found]


def workspace_digest(entry_path: Path) -> str:
    """Digest of what a workspace carries ("" when it carries nothing)."""
    manifest = ws.read_manifest(entry_path / WORKSPACE)
    files, deleted = manifest.get("files") or {}, manifest.get("deleted") or []
    dirs = manifest.get("dirs") or []
    if not files and not deleted and not dirs:
        return ""
    blob = json.dumps({"files": files, "deleted": deleted, "dirs": dirs}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def key_extra(
    step: Step, upstream_entries: Mapping[str, Path], base_dir: Path | None
) -> dict[str, Any]:
    """Cache-key ingredients: non-empty upstream workspaces and literal notebook-file reads."""
    extra: dict[str, Any] = {}
    digests = {name: workspace_digest(path) for name, path in upstream_entries.items()}
    digests = {k: v for k, v in digests.items() if v}
    if digests:
        extra["workspaces"] = digests
    produced = {path for path, _ in step.file_inputs}
    reads = [p for p in step.file_reads if p not in produced]
    if reads and base_dir is not None:
        extra["files"] = {p: ws.fingerprint(base_dir / p) for p in reads}
    return extra


def commit_meta(tmp: Path) -> dict[str, Any]:
    """What a new cache entry records about its workspace."""
    manifest = ws.read_manifest(tmp / WORKSPACE)
    return {
        "workspace_digest": workspace_digest(tmp),
        "file_reads": manifest.get("reads") or {},
        "workspace": {
            "files": len(manifest.get("files") or {}),
            "deleted": len(manifest.get("deleted") or []),
            "bytes": manifest.get("bytes", 0),
            "skipped": manifest.get("skipped") or {},
        },
    }


def reads_unchanged(meta: Mapping[str, Any], base_dir: Path | None) -> bool:
    """Whether the notebook-folder files the entry's step read still have their content."""
    reads = meta.get("file_reads") or {}
    if not reads or base_dir is None:
        return True
    return all(ws.fingerprint(base_dir / rel) == fp for rel, fp in reads.items())
