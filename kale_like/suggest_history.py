"""Measured costs for ``suggest``: what the newest local run of a notebook took per cell
and how big the values it saved were (read from its run records; missing or unreadable
records just mean "no history", so timings are estimated from the code instead).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import records
from .notebook import NotebookSource
from .suggest_cost import History

__all__ = ["run_history"]


def run_history(path: Path, nb: NotebookSource, run_root: Any) -> History | None:
    """Seconds per unchanged cell and bytes per saved variable, from the newest local run
    of this notebook that has step records."""
    root = Path(run_root) if run_root is not None else records.default_run_root(path.absolute())
    try:
        recs = records.list_records(root.absolute(), path.absolute())
    except OSError:
        return None
    sources = {c.index: c.source for c in nb.cells}
    for rec in recs:
        if rec.get("engine") != "local" or not rec.get("steps"):
            continue
        seconds: dict[int, float] = {}
        sizes: dict[str, int] = {}
        for name, step in rec["steps"].items():
            seconds.update(_cell_seconds(step.get("notebook"), sources))
            folder = Path(str(rec.get("run_dir", ""))) / "steps" / records.step_dirname(name)
            for var in step.get("outputs") or {}:
                size = _folder_size(folder / "artifacts" / var)
                if size:
                    sizes[var] = max(size, sizes.get(var, 0))
        if seconds:
            return History(str(rec.get("run_id")), seconds, sizes)
    return None


def _cell_seconds(step_nb: Any, sources: dict[int, str]) -> dict[int, float]:
    out: dict[int, float] = {}
    try:
        data = json.loads(Path(str(step_nb)).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return out
    for c in data.get("cells", []):
        meta = (c.get("metadata") or {}).get("kale_like") or {}
        index, secs = meta.get("index"), meta.get("seconds")
        if meta.get("role") != "step" or not isinstance(index, int):
            continue
        src = c.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if sources.get(index) == src and isinstance(secs, (int, float)):
            out[index] = float(secs)
    return out


def _folder_size(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    except OSError:
        return 0
