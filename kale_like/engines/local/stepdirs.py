"""A step's attempts, and the files of its run directory and cache entry, as the scheduler
lays them out.

A cache entry holds ``outputs/`` (saved values), ``state``, ``values/`` (keep_values runs),
the step's workspace and copies of its report and executed notebook; the run's step
directory links to the entry and keeps the log, metrics and result files.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

from ...model import Pipeline, Step
from . import cache as cachemod
from . import workspaces
from .executor import Executor, Job, Outcome

OUTPUTS = "outputs"
VALUES = "values"  # every final global of the step, for keep_values runs
STATE = "state"
REPORT = "report.html"
NOTEBOOK = "step.ipynb"


def show_cached(sdir: Path, entry: cachemod.Entry) -> None:
    """A cached step's directory: the entry's report and notebook, and a log saying so."""
    sdir.mkdir(parents=True, exist_ok=True)
    for name in (REPORT, NOTEBOOK):
        if (entry.path / name).is_file() and not (sdir / name).exists():
            link_or_copy(entry.path / name, sdir / name)
    (sdir / "log.txt").write_text(
        f"cached: results reused from cache entry {entry.key} "
        f"(first computed in run {entry.meta.get('run_id')})\n",
        encoding="utf-8",
    )


def link_entry(sdir: Path, entry: cachemod.Entry) -> str | None:
    """Metrics, and links to the entry's values and workspace; the step's report, if any."""
    (sdir / "metrics.json").write_text(json.dumps(entry.metrics, default=repr), "utf-8")
    link = sdir / "artifacts"
    if link.is_symlink():  # a step that ran again (re-planned) links its new entry
        link.unlink()
    if not link.exists():
        try:
            link.symlink_to(os.path.relpath(entry.path / OUTPUTS, sdir))
        except OSError:
            (sdir / "artifacts.txt").write_text(str(entry.path / OUTPUTS), "utf-8")
    files = sdir / workspaces.WORKSPACE  # the files the step wrote, for the user
    if files.is_symlink():
        files.unlink()
    if (entry.path / workspaces.WORKSPACE).is_dir() and not files.exists():
        try:
            files.symlink_to(os.path.relpath(entry.path / workspaces.WORKSPACE, sdir))
        except OSError:
            pass
    return str(sdir / REPORT) if (sdir / REPORT).is_file() else None


def attempts(executor: Executor, step: Step, job: Job, base_dir: Path | None) -> Outcome:
    """Run ``job`` (in a pool thread), retrying as the step's ``retry:`` tag allows."""
    tries = 1 + max(0, step.settings.retries or 0)
    outcome = Outcome(ok=False, error="not run")
    for attempt in range(tries):
        try:
            workspaces.prepare_workdir(Path(job.cwd), base_dir, step.file_writes)
            outcome = executor(job)
        except Exception as exc:  # the engine's own failure still ends as a failed step
            import traceback

            outcome = Outcome(
                ok=False,
                error=f"could not run the step: {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
        if outcome.ok or attempt == tries - 1 or outcome.error == "cancelled":
            break
        fresh_attempt(Path(job.state_output).parent)
    return outcome


def fresh_attempt(tmp: Path) -> None:
    """A fresh start for the next attempt: nothing of the failed one is kept."""
    shutil.rmtree(tmp / OUTPUTS, ignore_errors=True)
    (tmp / OUTPUTS).mkdir()
    for leftover in (tmp / STATE, tmp / VALUES, tmp / workspaces.WORKSPACE):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.exists():
            leftover.unlink()


def imported_modules(pipeline: Pipeline, step: Step) -> set[str]:
    """Dotted modules the prelude and the step import (``sklearn.linear_model``)."""
    found: set[str] = set()
    for src in (*pipeline.prelude_for(step).imports, *step.sources):
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):  # magics: the hint is only an optimisation
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return found


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        if dst.exists():
            dst.unlink()
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
