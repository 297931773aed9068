"""The ``suggest`` verb: propose step tags for an untagged (or partly tagged) notebook.

The proposal (:mod:`kale_like.suggest`) is checked with the analysis every hand-tagged
notebook goes through (``load_pipeline`` + ``check_pipeline``); a boundary that brings an
error or a data-flow warning the notebook did not have (undefined name, ambiguous
definition, missing dependency) is merged away until none is left. Timings and value
sizes come from the newest local run of the notebook when there is one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import suggest as core
from ..diagnostics import Diagnostic
from ..errors import AnalysisError, KaleError, UsageError
from ..model import Pipeline
from ..notebook import read_notebook
from ..notebook_write import apply_tags, write_notebook_atomic
from ..pipeline import check_pipeline, load_pipeline
from ..suggest_cost import critical_path, human_bytes, width
from ..suggest_history import run_history

__all__ = ["SuggestResult", "suggest"]

# Warnings a split may not introduce: each means a variable would not reach its reader.
GUARDED = {"undefined-name", "ambiguous-definition", "missing-dependency", "outside-pipeline"}


@dataclass
class SuggestResult:
    """A checked proposal: new tags per cell, the pipeline they give, and why."""

    notebook: str | None
    tags: dict[int, list[str]]  # code cell -> its full new tag list (only cells that change)
    pipeline: Pipeline
    roles: dict[int, str]
    boundaries: list[dict[str, Any]]  # {"step", "cell", "reasons"}
    notes: list[str]
    single_step: str | None
    width: int
    serial_seconds: float
    critical_seconds: float
    measured: bool  # timings come from an earlier run (else estimated from the code)
    timings_run: str | None
    step_seconds: dict[str, float] = field(default_factory=dict)
    written: str | None = None
    notebook_json: dict[str, Any] = field(default_factory=dict)  # with the new tags

    def to_json(self) -> dict[str, Any]:
        steps = []
        for s in self.pipeline.steps:
            steps.append(
                {
                    "name": s.name,
                    "cells": list(s.cells),
                    "after": list(s.after),
                    "inputs": dict(s.inputs),
                    "state": dict(s.state_inputs),
                    "seconds": round(self.step_seconds.get(s.name, 0.0), 3),
                }
            )
        return {
            "notebook": self.notebook,
            "steps": steps,
            "roles": {str(c): r for c, r in sorted(self.roles.items())},
            "tags": {str(c): t for c, t in sorted(self.tags.items())},
            "boundaries": self.boundaries,
            "notes": self.notes,
            "single_step": self.single_step,
            "width": self.width,
            "serial_seconds": round(self.serial_seconds, 3),
            "critical_path_seconds": round(self.critical_seconds, 3),
            "timings": "measured" if self.measured else "estimated",
            "timings_run": self.timings_run,
            "parameters": [p.name for p in self.pipeline.parameters],
            "diagnostics": [d.to_json() for d in self.pipeline.diagnostics],
            "written": self.written,
        }

    def to_text(self) -> str:
        p = self.pipeline
        how = (
            f"timings measured by run {self.timings_run}"
            if self.measured
            else "timings estimated from the code; run the notebook once locally to measure"
        )
        out = [f"proposed pipeline: {len(p.steps)} step{'s' if len(p.steps) != 1 else ''}"]
        for c, r in sorted(self.roles.items()):
            out.append(f"  cell {c + 1}: {r}")
        for i, s in enumerate(p.steps, 1):
            cells = ", ".join(str(c + 1) for c in s.cells)
            secs = self.step_seconds.get(s.name, 0.0)
            line = f"{i}. {s.name}  [cell{'s' if len(s.cells) != 1 else ''} {cells}]  ~{secs:.2f}s"
            if s.after:
                line += f"  after: {', '.join(s.after)}"
            out.append(line)
            carried: dict[str, list[str]] = {}
            for var, prod in s.inputs:
                carried.setdefault(prod, []).append(var)
            for kind, prod in s.state_inputs:
                carried.setdefault(prod, []).append(f"<{kind} state>")
            for prod, vs in carried.items():
                out.append(f"     {prod} -> {', '.join(vs)}")
        out.append(
            f"parallelism: width {self.width}; serial ~{self.serial_seconds:.2f}s, critical path"
            f" ~{self.critical_seconds:.2f}s ({how})"
        )
        if self.boundaries:
            out.append("boundaries:")
            for b in self.boundaries:
                out.append(
                    f"  before cell {b['cell'] + 1} ({b['step']}): {'; '.join(b['reasons'])}"
                )
        if self.single_step:
            out.append(f"one step only: {self.single_step}")
        for n in self.notes:
            out.append(f"note: {n}")
        if self.written:
            out.append(f"tags written to {self.written}")
        return "\n".join(out)


def suggest(
    notebook: Any,
    *,
    max_steps: int = 12,
    min_step_seconds: float = 0.0,
    run_root: str | os.PathLike[str] | None = None,
    write: str | os.PathLike[str] | None = None,
    in_place: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> SuggestResult:
    """Propose, check and (only when asked) write step tags for ``notebook``.

    ``notebook`` is a path or notebook JSON. ``write`` writes a tagged copy (never over the
    notebook itself); ``in_place`` rewrites the notebook (atomically, and only if it did
    not change meanwhile). ``path``: where notebook JSON is saved (for its earlier runs)."""
    _check_args(max_steps, min_step_seconds, write, in_place, notebook)
    if isinstance(notebook, (str, os.PathLike)):
        path = os.fspath(notebook)
    path = os.fspath(path) if path is not None else None
    nb = read_notebook(notebook)
    raw = _raw(notebook)
    run_root = os.fspath(run_root) if run_root is not None else None
    base = load_pipeline(notebook, run_root=run_root, path=path)
    try:
        check_pipeline(base)
    except AnalysisError as err:
        err.message = f"the notebook's own tags do not pass the checks: {err.message}"
        raise
    history = run_history(Path(path), nb, run_root) if path else None
    ctx, segs = core.propose(nb, history, max_steps=max_steps, min_step_seconds=min_step_seconds)
    baseline = {(d.kind, d.cell, d.line) for d in base.diagnostics if d.kind in GUARDED}
    notes: list[str] = []
    forced = False
    while True:
        tags = core.tags_for(ctx, segs)
        tagged = apply_tags(raw, tags)
        pipeline, bad = _check(tagged, path, run_root, baseline)
        if bad is None:
            break
        k, reason = _offending(segs, bad)
        merged = core.merge_at(segs, k, "")
        if merged is segs or len(merged) == len(segs):
            raise AnalysisError(  # cannot happen with the analysis as it is; never guess
                f"no split of the notebook passes the checks: {reason}",
                kind="no-suggestion",
                path=path,
                fix="tag the notebook by hand (kale-like analyze shows the problem)",
            )
        notes.append(f"joined {segs[k].name!r} to its neighbour: {reason}")
        forced = True
        segs = merged
        core.name_segments(ctx, segs)
    result = _result(ctx, segs, pipeline, tags, path, notes, forced, max_steps)
    result.notebook_json = tagged
    if write is not None or in_place:
        target = Path(notebook) if in_place else Path(write)  # type: ignore[arg-type]
        expect = nb.digest if in_place else None
        write_notebook_atomic(target, tagged, expect_sha256=expect)
        result.written = str(target)
    return result


def _check_args(
    max_steps: Any, min_step_seconds: Any, write: Any, in_place: bool, notebook: Any
) -> None:
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise UsageError(
            f"--max-steps must be a whole number of at least 1, got {max_steps!r}",
            kind="bad-max-steps",
            fix="pass e.g. --max-steps 8",
        )
    ok = isinstance(min_step_seconds, (int, float)) and not isinstance(min_step_seconds, bool)
    if not ok or not 0 <= min_step_seconds < float("inf"):
        raise UsageError(
            f"--min-step-seconds must be a number of seconds >= 0, got {min_step_seconds!r}",
            kind="bad-min-step-seconds",
            fix="pass e.g. --min-step-seconds 5",
        )
    is_path = isinstance(notebook, (str, os.PathLike))
    if in_place and write is not None:
        raise UsageError(
            "--write and --in-place exclude each other", kind="bad-arguments", fix="pick one"
        )
    if in_place and not is_path:
        raise UsageError("--in-place needs a notebook file", kind="bad-arguments")
    if write is not None:
        out = Path(write)
        if out.suffix != ".ipynb":
            raise UsageError(
                f"--write {str(write)!r}: the copy must be an .ipynb file",
                kind="bad-output",
                fix=f"--write {out.with_suffix('.ipynb')}",
            )
        if is_path and out.absolute().resolve() == Path(notebook).absolute().resolve():
            raise UsageError(
                "--write names the notebook itself; the notebook is only rewritten with --in-place",
                kind="bad-output",
                fix="use --in-place, or --write another file",
            )
        if not out.absolute().parent.is_dir():
            raise UsageError(
                f"--write {str(write)!r}: folder {str(out.absolute().parent)!r} does not exist",
                kind="bad-output",
                fix="create the folder first",
            )


def _raw(notebook: Any) -> dict[str, Any]:
    if isinstance(notebook, (str, os.PathLike)):
        data: dict[str, Any] = json.loads(Path(notebook).read_text(encoding="utf-8"))
        return data
    return json.loads(json.dumps(notebook, default=str))


def _check(
    tagged: dict[str, Any], path: str | None, run_root: Any, baseline: set[tuple[Any, ...]]
) -> tuple[Pipeline | None, Diagnostic | None]:
    """The proposal's pipeline, and the first finding that makes it worse than the notebook."""
    try:
        p = load_pipeline(tagged, path=path, run_root=run_root)
    except KaleError as err:
        return None, Diagnostic("error", err.kind, err.message, err.cell, err.line)
    for d in p.diagnostics:
        if d.severity == "error" or (
            d.kind in GUARDED and (d.kind, d.cell, d.line) not in baseline
        ):
            return p, d
    return p, None


def _offending(segs: list[core.Segment], d: Diagnostic) -> tuple[int, str]:
    """The segment whose first boundary a finding blames."""
    k = next((i for i, s in enumerate(segs) if s.name == d.step), None)
    if k is None and d.cell is not None:
        k = next((i for i, s in enumerate(segs) if d.cell in s.cells), None)
    if k is None:
        k = len(segs) - 1
    return k, f"{d.kind}: {d.message}"


def _result(
    ctx: core.Context,
    segs: list[core.Segment],
    p: Pipeline | None,
    tags: dict[int, list[str]],
    path: str | None,
    notes: list[str],
    forced: bool,
    max_steps: int,
) -> SuggestResult:
    assert p is not None
    cell_secs = ctx.seconds
    step_secs = {s.name: sum(cell_secs.get(c, 0.0) for c in s.cells) for s in p.steps}
    order = [s.name for s in p.steps]
    preds = {s.name: set(s.after) for s in p.steps}
    by_name = {s.name: s for s in p.steps}
    boundaries = []
    for seg in segs[1:]:
        s = by_name.get(seg.name)
        if s is None:
            continue
        boundaries.append(
            {"step": s.name, "cell": seg.cells[0], "reasons": _reasons(ctx, s, p, seg)}
        )
    for seg in segs:
        for n in seg.notes:
            notes.append(f"{seg.name}: {n}")
    single = None
    if len(p.steps) == 1:
        single = _why_one(ctx, forced, max_steps)
    measured = bool(ctx.measured) and ctx.measured >= set(ctx.work)
    return SuggestResult(
        notebook=path,
        tags=tags,
        pipeline=p,
        roles=dict(ctx.roles),
        boundaries=boundaries,
        notes=notes,
        single_step=single,
        width=width(order, preds),
        serial_seconds=sum(step_secs.values()),
        critical_seconds=critical_path(order, preds, step_secs),
        measured=measured,
        timings_run=ctx.history.run_id if ctx.history else None,
        step_seconds=step_secs,
    )


def _reasons(ctx: core.Context, s: Any, p: Pipeline, seg: core.Segment) -> list[str]:
    out: list[str] = []
    if seg.fixed:
        out.append(f"tagged step:{seg.fixed} by hand")
    head = ctx.headings.get(seg.cells[0])
    if head:
        out.append(f"heading {head!r}")
    carried: dict[str, list[str]] = {}
    for var, prod in s.inputs:
        carried.setdefault(prod, []).append(var)
    if carried:
        parts = []
        for prod, vs in carried.items():
            size = sum(ctx.var_bytes.get(v, (0, False))[0] for v in vs)
            parts.append(f"{', '.join(vs)} from {prod} (~{human_bytes(size)})")
        out.append("receives " + "; ".join(parts))
    else:
        out.append("receives no variable")
    anc = _ancestors(p)
    parallel = [
        o.name
        for o in p.steps
        if o.name != s.name and o.name not in anc[s.name] and s.name not in anc[o.name]
    ]
    if parallel:
        out.append(f"independent of {', '.join(parallel)} (runs in parallel)")
    secs = sum(ctx.seconds.get(c, 0.0) for c in s.cells)
    out.append(f"~{secs:.2f}s of work")
    return out


def _ancestors(p: Pipeline) -> dict[str, set[str]]:
    anc: dict[str, set[str]] = {}
    for s in p.steps:  # topological order
        anc[s.name] = set(s.after).union(*(anc[a] for a in s.after)) if s.after else set()
    return anc


def _why_one(ctx: core.Context, forced: bool, max_steps: int) -> str:
    if len(ctx.work) <= 1:
        return "the notebook has a single cell of work (imports, functions and parameters aside)"
    if max_steps == 1:
        return "--max-steps 1"
    if forced:
        return "every split brought a data-flow problem the checks refuse (see the notes)"
    return (
        "each cell needs the one before it and nothing would run in parallel; no markdown"
        " heading or substantial work with little data crossing marks a boundary, so more"
        " steps would only add overhead"
    )
