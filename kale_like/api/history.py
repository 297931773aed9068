"""The ``runs`` verbs: list past runs and show one run's record (steps, metrics, lineage)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import records

__all__ = ["default_run_root", "runs_list", "runs_show"]


def default_run_root(folder: str | os.PathLike[str]) -> Path:
    """Where runs of notebooks in ``folder`` live unless told otherwise: ``$KALE_LIKE_RUN_ROOT``,
    else ``folder/.kale_like`` (what `kale-like run` and `kale-like runs list` use there)."""
    return records.default_run_root(Path(folder).absolute() / "notebook.ipynb").absolute()


def _root(run_root: str | os.PathLike[str] | None, notebook: str | os.PathLike[str] | None) -> Path:
    if run_root is not None:
        return Path(run_root).expanduser().absolute()
    return records.default_run_root(Path(notebook).absolute() if notebook else None).absolute()


def runs_list(
    run_root: str | os.PathLike[str] | None = None,
    notebook: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """One summary per run, newest first: id, status, engine, notebook, times, step counts."""
    root = _root(run_root, notebook)
    nb = Path(notebook).absolute() if notebook else None
    out = []
    for rec in records.list_records(root, nb):
        counts: dict[str, int] = {}
        for step in rec.get("steps", {}).values():
            counts[step.get("status", "?")] = counts.get(step.get("status", "?"), 0) + 1
        out.append(
            {
                "run_id": rec.get("run_id"),
                "status": rec.get("status"),
                "engine": rec.get("engine"),
                "pipeline": rec.get("pipeline"),
                "notebook": (rec.get("notebook") or {}).get("path"),
                "started": rec.get("started"),
                "seconds": rec.get("seconds"),
                "steps": counts,
                "metrics": rec.get("metrics", {}),
                "run_dir": rec.get("run_dir"),
            }
        )
    return out


def runs_show(run_id: str, run_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The full run record of ``run_id`` (a unique prefix is enough)."""
    return records.find_record(_root(run_root, None), run_id)
