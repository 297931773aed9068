"""The local engine's side of workspaces (files handed between steps; see
:mod:`kale_like.runtime.workspace`).

Each step runs in a working directory of its own, ``RUN_DIR/steps/NAME/work``, seeded as a
container would be: the notebook folder's files (symlinked, so reading ``data/raw.csv``
works as top to bottom while new files stay private), then the runtime restores the
workspaces of every ancestor step in topological order. The step's own workspace is saved in
its cache entry. Cache keys take the ancestors' workspace digests and the content of the
notebook-folder files the step reads by literal path (analysis); what the step read at run
time (:mod:`kale_like.runtime.reads`: files anywhere, folders listed, network, subprocesses)
is stored in the entry and checked when it is looked up (:func:`stale_reason`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...model import Pipeline, Step
from ...runtime import reads as reads_mod
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
    """Cache-key ingredients: non-empty upstream workspaces.

    Notebook-folder files the step reads (by literal path or as recorded at run time) are
    not in the key but checked on lookup (:func:`stale_reason`), so a re-run can say which
    file changed. With recording off the literal ones stay in the key, as before.
    """
    extra: dict[str, Any] = {}
    digests = {name: workspace_digest(path) for name, path in upstream_entries.items()}
    digests = {k: v for k, v in digests.items() if v}
    if digests:
        extra["workspaces"] = digests
    reads = literal_reads(step, base_dir)
    if reads and not reads_mod.enabled():
        extra["files"] = {rel: ws.fingerprint(path) for rel, path in reads.items()}
    return extra


def literal_reads(step: Step, base_dir: Path | None) -> dict[str, Path]:
    """Notebook-folder files the analysis saw the step read by literal path (no producer)."""
    if base_dir is None:
        return {}
    produced = {path for path, _ in step.file_inputs}
    return {p: base_dir / p for p in step.file_reads if p not in produced}


def commit_meta(
    tmp: Path, step: Step | None = None, base_dir: Path | None = None
) -> dict[str, Any]:
    """What a new cache entry records about its workspace and what its step read.

    Literal-path reads the audit hook did not see (native readers such as OpenCV or h5py
    open files below Python) join the recorded reads, fingerprinted now.
    """
    manifest = ws.read_manifest(tmp / WORKSPACE)
    recorded = dict(manifest.get("reads") or {})
    if "files" in recorded and step is not None:
        files = dict(recorded["files"])
        for path in literal_reads(step, base_dir).values():
            real = os.path.realpath(path)
            if real not in files:
                files[real] = reads_mod.fingerprint(real)
        recorded["files"] = dict(sorted(files.items()))
    return {
        "workspace_digest": workspace_digest(tmp),
        # runtime.reads.Reads.to_json(); older entries have "file_reads" (rel -> digest)
        "reads": recorded if "files" in recorded else {},
        "workspace": {
            "files": len(manifest.get("files") or {}),
            "deleted": len(manifest.get("deleted") or []),
            "bytes": manifest.get("bytes", 0),
            "skipped": manifest.get("skipped") or {},
        },
    }


def stale_reason(meta: Mapping[str, Any], step: Step, base_dir: Path | None) -> str | None:
    """Why the entry ``meta`` of ``step`` cannot be reused now (None: it can).

    A recorded file or folder changed, or the step used the network or a subprocess and
    has no ``cache:enabled`` tag.
    """
    old = meta.get("file_reads") or {}  # entries written before reads were recorded fully
    if old and base_dir is not None:
        for rel, fp in old.items():
            if ws.fingerprint(base_dir / rel) != fp:
                return f"{rel} changed"
    return reads_mod.stale_reason(
        meta.get("reads"), allow_external=step.settings.cache is True, base=base_dir
    )


def reads_unchanged(meta: Mapping[str, Any], step: Step, base_dir: Path | None) -> bool:
    """Whether the entry ``meta`` of ``step`` may be reused (see :func:`stale_reason`)."""
    return stale_reason(meta, step, base_dir) is None
