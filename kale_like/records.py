"""Run folders and run records (``run.json``): where a run's files live and its lineage.

Every engine writes its run folder and record through this module, and the verbs read them
back (``runs list/show``, ``verify``, ``suggest``): it sits below all of them.

Layout under the run root (default ``.kale_like/`` beside the notebook)::

    runs/<run_id>/run.json                  the record (written atomically, updated as it goes)
    runs/<run_id>/steps/<step>/             report.html, step.ipynb, log.txt, metrics.json,
                                            artifacts -> ../../../../cache/<key>/outputs
    cache/<key>/                            content-addressed step results (local engine)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import EnvironmentProblem, UsageError
from .model import Pipeline

RUN_RECORD = "run.json"
ENV_RUN_ROOT = "KALE_LIKE_RUN_ROOT"
DEFAULT_ROOT_NAME = ".kale_like"


# File names are at most 255 bytes on common file systems; a step name may be longer
# (the tag grammar sets no limit), so long names get a short, unique folder name.
_MAX_DIRNAME = 100


def step_dirname(name: str) -> str:
    """The folder name of step ``name`` under ``RUN_DIR/steps``: the name itself, or for a
    long one its start plus a digest of the whole (distinct names stay distinct)."""
    if len(name.encode("utf-8")) <= _MAX_DIRNAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return f"{name[:60]}-{digest}"


def default_run_root(notebook_path: Path | None) -> Path:
    """``$KALE_LIKE_RUN_ROOT``, else ``.kale_like/`` beside the notebook (else in the cwd)."""
    env = os.environ.get(ENV_RUN_ROOT)
    if env:
        return Path(env).expanduser()
    base = notebook_path.parent if notebook_path is not None else Path.cwd()
    return base / DEFAULT_ROOT_NAME


def ensure_writable(root: Path) -> Path:
    """Create ``root`` (runs/, cache/) or raise EnvironmentProblem (exit 3) saying why."""
    root = root.expanduser().absolute()
    try:
        for sub in ("runs", "cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # Step working directories mirror the notebook folder: never the run root inside it.
        (root / ".kale_like_run_root").touch()
        probe = tempfile.NamedTemporaryFile(dir=root / "runs", prefix=".probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise EnvironmentProblem(
            f"run root {str(root)!r} is not writable: {exc.strerror or exc}",
            kind="run-root-unwritable",
            path=str(root),
            fix=f"pass --run-root DIR (or set {ENV_RUN_ROOT}) to a writable directory",
        ) from exc
    return root


def new_run_id() -> str:
    """Sortable and unique: ``20261127-120501-3fa2c1``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def notebook_info(pipeline: Pipeline, nb_path: Path | None) -> dict[str, Any]:
    """The record's ``notebook``: its absolute path and the sha256 of its bytes."""
    digest = pipeline.notebook_digest
    if nb_path is not None and nb_path.is_file():  # the file's bytes, as `sha256sum` says
        digest = hashlib.sha256(nb_path.read_bytes()).hexdigest()
    return {"path": str(nb_path.absolute()) if nb_path else None, "sha256": digest}


def collect_metrics(pipeline: Pipeline, per_step: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Metrics in the order of the notebook's metrics cell, each from its producing step."""
    out: dict[str, Any] = {}
    for metric in pipeline.metrics:
        if metric.name in per_step.get(metric.step, {}):
            out[metric.name] = per_step[metric.step][metric.name]
    for step in pipeline.steps:  # metrics the IR did not list (e.g. logged by the runtime)
        for name, value in per_step.get(step.name, {}).items():
            out.setdefault(name, value)
    return out


def runner_identity() -> dict[str, Any]:
    """Who writes a running record: pid + process start time (a reused pid is not us)."""
    return {"pid": os.getpid(), "start": _start_time(os.getpid())}


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after it
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def runner_alive(runner: Any) -> bool:
    """Is the process recorded as ``runner`` still the one running?"""
    if not isinstance(runner, dict) or not isinstance(runner.get("pid"), int):
        return True  # an older record: no way to tell
    pid = runner["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = runner.get("start")
    now = _start_time(pid)
    if start is not None and now is not None and now != start:
        return False  # the pid was reused
    try:  # a zombie (killed, never reaped) is no runner either
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def reconcile(record: dict[str, Any]) -> dict[str, Any]:
    """A "running" record whose runner is gone reads "interrupted" (so do its running steps)."""
    if record.get("status") != "running" or runner_alive(record.get("runner")):
        return record
    record = dict(record, status="interrupted")
    steps = record.get("steps")
    if isinstance(steps, dict):
        record["steps"] = {
            name: dict(s, status="interrupted")
            if isinstance(s, dict) and s.get("status") == "running"
            else s
            for name, s in steps.items()
        }
    return record


def read_record(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return reconcile(data) if isinstance(data, dict) else None


def list_records(root: Path, notebook: Path | None = None) -> list[dict[str, Any]]:
    """Every readable run record under ``root``, newest first; optionally one notebook's."""
    runs = root / "runs"
    if not runs.is_dir():
        return []
    wanted = str(notebook.absolute()) if notebook is not None else None
    out = []
    for run_dir in sorted(runs.iterdir(), reverse=True):
        record = read_record(run_dir) if run_dir.is_dir() else None
        if record is None:
            continue
        if wanted is not None and record.get("notebook", {}).get("path") != wanted:
            continue
        out.append(record)
    return out


def find_record(root: Path, run_id: str) -> dict[str, Any]:
    """The record of ``run_id`` (a unique prefix is enough), else UsageError listing runs."""
    runs = root / "runs"
    exact = runs / run_id
    if "/" not in run_id and run_id not in (".", "..") and (exact / RUN_RECORD).is_file():
        record = read_record(exact)
        if record is not None:
            return record
    matches = [r for r in list_records(root) if str(r.get("run_id", "")).startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    known = [str(r.get("run_id")) for r in list_records(root)[:10]]
    what = "is ambiguous" if matches else "not found"
    raise UsageError(
        f"run {run_id!r} {what} under {str(runs)!r}"
        + (f"; recent runs: {', '.join(known)}" if known else "; there are no runs yet"),
        kind="unknown-run",
        fix="kale-like runs list",
    )
