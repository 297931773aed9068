"""Observed facts: writes a local run saw that the analysis did not, fed back into the IR.

The step runtime reports each *undeclared write* (runtime/observe.py) in the run record
(``run.json``: ``steps.NAME.observed``). :func:`record_run` keeps them per notebook in a
small JSON store under the run root, ``observed/<hash of the notebook path>.json``, keyed by
a digest of each step's code (its cells and the prelude it replays), so editing a step's
code drops that step's facts. Runs merge into the store: a fact stays while its step's code
is unchanged (once it feeds the IR the runtime no longer reports it as undeclared).

:func:`with_observed` (called once, by ``load_pipeline``) turns the facts of the current code
into *observed edges*: each later step that reads the name takes it from the writer, which
now declares it as an output. Every verb that loads a pipeline (analyze, compile, deploy,
sweep, run) sees them, so a compiled KFP pipeline carries the value and a cluster run is
right where it would otherwise fail with an undeclared write.

Store layout (version 1)::

    {"version": 1, "notebook": "/abs/nb.ipynb",
     "steps": {"<code digest>": {"step": "sneak", "runs": ["<run id>", ...],
                                 "writes": [{"variable": "z", "how": "bound", "cell": 1,
                                             "prelude": false, "later": ["use"],
                                             "run": "<run id>"}]}}}

A step's digest in the store means a run observed that code to the end (with or without
undeclared writes): ``compile --observe`` runs the notebook only when some step is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import fsutil
from ..diagnostics import Diagnostic
from ..model import STATE_KINDS, Pipeline, Step

__all__ = [
    "Fact",
    "apply_facts",
    "collect",
    "covered",
    "has_facts",
    "observe_pipeline",
    "facts_for",
    "merge_run",
    "read_store",
    "record_run",
    "step_code",
    "store_path",
    "with_observed",
]

STORE_VERSION = 1
OBSERVED_DIR = "observed"
# Steps whose observations count: they ran to the end (a cached step replays its report).
_FINISHED = ("succeeded", "cached")


@dataclass(frozen=True)
class Fact:
    """One undeclared write a run observed for the current code of step ``step``."""

    step: str
    variable: str
    how: str  # bound | rebound | deleted | changed (runtime/observe.py)
    cell: int | None
    run: str
    prelude: bool = False
    later: tuple[str, ...] = ()  # readers when observed (used for state kinds)


# ------------------------------------------------------------------------ pure core


def step_code(pipeline: Pipeline, step: Step) -> str:
    """Digest of what decides a step's writes: its cells and the prelude it replays."""
    prelude = pipeline.prelude_for(step)
    blob = json.dumps(
        [step.notebook, list(step.sources), list(prelude.imports), list(prelude.functions)]
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def empty_store(notebook: str | None = None) -> dict[str, Any]:
    return {"version": STORE_VERSION, "notebook": notebook, "steps": {}}


def merge_run(
    store: Mapping[str, Any],
    pipeline: Pipeline,
    run_id: str,
    steps: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """``store`` plus what run ``run_id`` observed (``steps``: run.json's ``steps``).

    Entries of code no step has any more are dropped (an edit invalidates its facts);
    a finished step adds its run and its undeclared writes (one per variable, the newest).
    """
    codes = {s.name: step_code(pipeline, s) for s in pipeline.steps}
    old = store.get("steps") if isinstance(store.get("steps"), dict) else {}
    live = set(codes.values())
    out: dict[str, Any] = {k: _copy_entry(v) for k, v in old.items() if k in live}
    for name, rec in steps.items():
        if name not in codes or rec.get("status") not in _FINISHED:
            continue
        entry = out.setdefault(codes[name], {"step": name, "runs": [], "writes": []})
        entry["step"] = name
        if run_id not in entry["runs"]:
            entry["runs"] = [*entry["runs"], run_id][-5:]  # a few, newest last
        writes = {w["variable"]: w for w in entry["writes"]}
        for w in rec.get("observed") or ():
            if not isinstance(w, Mapping) or not isinstance(w.get("variable"), str):
                continue
            writes[w["variable"]] = {
                "variable": w["variable"],
                "how": str(w.get("how") or "changed"),
                "cell": w.get("cell") if isinstance(w.get("cell"), int) else None,
                "prelude": bool(w.get("prelude")),
                "later": [str(x) for x in w.get("later") or ()],
                "run": run_id,
            }
        entry["writes"] = [writes[v] for v in sorted(writes)]
    return {"version": STORE_VERSION, "notebook": store.get("notebook"), "steps": out}


def _copy_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        return {"step": "", "runs": [], "writes": []}
    writes = [dict(w) for w in entry.get("writes") or () if isinstance(w, Mapping)]
    return {
        "step": str(entry.get("step") or ""),
        "runs": [str(r) for r in entry.get("runs") or ()],
        "writes": writes,
    }


def covered(store: Mapping[str, Any], pipeline: Pipeline) -> bool:
    """Whether a run observed the current code of every step."""
    steps = store.get("steps") or {}
    return all(step_code(pipeline, s) in steps for s in pipeline.steps)


def facts_for(store: Mapping[str, Any], pipeline: Pipeline) -> list[Fact]:
    """The facts of the current code, attached to the step that has that code now."""
    steps = store.get("steps") or {}
    out: list[Fact] = []
    for s in pipeline.steps:
        entry = steps.get(step_code(pipeline, s))
        if not isinstance(entry, Mapping):
            continue
        for w in entry.get("writes") or ():
            if not isinstance(w, Mapping) or not isinstance(w.get("variable"), str):
                continue
            out.append(
                Fact(
                    step=s.name,
                    variable=w["variable"],
                    how=str(w.get("how") or "changed"),
                    cell=w.get("cell") if isinstance(w.get("cell"), int) else None,
                    run=str(w.get("run") or ""),
                    prelude=bool(w.get("prelude")),
                    later=tuple(str(x) for x in w.get("later") or ()),
                )
            )
    return out


def apply_facts(pipeline: Pipeline, facts: Iterable[Fact]) -> Pipeline:
    """The pipeline with an observed edge per fact: each later step that reads the name
    (and would otherwise take it from before the writer) receives it from the writer.

    Writers are taken in notebook order, so a later writer of the same name wins, as top to
    bottom. An edge that would close a cycle (a ``prev:`` chain runs the reader first) is
    left out with a warning naming the fix.
    """
    from ..runtime.spec import later_readers

    facts = list(facts)
    if not facts:
        return pipeline
    pos = {s.name: i for i, s in enumerate(pipeline.reading_order())}
    steps = {s.name: s for s in pipeline.steps}
    diags: list[Diagnostic] = []
    for fact in sorted(facts, key=lambda f: (pos.get(f.step, -1), f.variable)):
        writer = steps.get(fact.step)
        if writer is None:
            continue
        state = fact.variable in STATE_KINDS
        if state:  # a global-state kind: its readers are what the run saw
            readers = [n for n in fact.later if n in steps and pos[n] > pos[writer.name]]
        else:
            current = replace(pipeline, steps=tuple(steps.values()))
            readers = later_readers(current, writer).get(fact.variable, [])
        routed: list[str] = []
        blocked: list[str] = []
        for name in readers:
            consumer = steps[name]
            source = dict(consumer.state_inputs if state else consumer.inputs).get(fact.variable)
            if source is not None and pos[source] >= pos[writer.name]:
                continue  # the writer, or a step after it, already provides it
            if name in _ancestors(steps, writer.name):
                blocked.append(name)
                continue
            steps[name] = _receive(consumer, writer.name, fact.variable, state)
            routed.append(name)
        if routed:
            steps[writer.name] = _provide(steps[writer.name], fact.variable, state)
            diags.append(_routed_diagnostic(writer, fact, routed))
        if blocked:
            diags.append(_blocked_diagnostic(writer, fact, blocked))
    if not diags:
        return pipeline
    ordered = _topological(pipeline, steps)
    return replace(pipeline, steps=ordered, diagnostics=_sorted([*pipeline.diagnostics, *diags]))


def _receive(consumer: Step, writer: str, var: str, state: bool) -> Step:
    after = consumer.after if writer in consumer.after else (*consumer.after, writer)
    if state:
        pairs = [(k, p) for k, p in consumer.state_inputs if k != var] + [(var, writer)]
        return replace(consumer, state_inputs=tuple(pairs), after=after)
    inputs = [(v, p) for v, p in consumer.inputs if v != var] + [(var, writer)]
    observed = tuple(dict.fromkeys([*consumer.observed, var]))
    return replace(consumer, inputs=tuple(inputs), after=after, observed=observed)


def _provide(writer: Step, var: str, state: bool) -> Step:
    """The writer declares the name, so the runtime saves it instead of failing the step."""
    if state:
        kinds = {*writer.state_outputs, var}
        return replace(writer, state_outputs=tuple(k for k in STATE_KINDS if k in kinds))
    outputs = writer.outputs if var in writer.outputs else (*writer.outputs, var)
    writes = tuple(sorted({*writer.writes, var}))
    return replace(writer, outputs=outputs, writes=writes)


def _ancestors(steps: Mapping[str, Step], name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for p in steps[todo.pop()].after:
            if p not in seen and p in steps:
                seen.add(p)
                todo.append(p)
    return seen


def _topological(pipeline: Pipeline, steps: Mapping[str, Step]) -> tuple[Step, ...]:
    """Steps in dependency order, the previous order breaking ties (stable)."""
    rank = {s.name: i for i, s in enumerate(pipeline.steps)}
    done: list[Step] = []
    placed: set[str] = set()
    pending = sorted(steps, key=rank.__getitem__)
    while pending:
        ready = next(n for n in pending if all(p in placed for p in steps[n].after if p in steps))
        pending.remove(ready)
        placed.add(ready)
        done.append(steps[ready])
    return tuple(done)


def _where(cell: int | None) -> str:
    return f" in cell {cell}" if cell is not None else ""


def _routed_diagnostic(writer: Step, fact: Fact, routed: list[str]) -> Diagnostic:
    readers = ", ".join(repr(r) for r in routed)
    what = f"<{fact.variable} state>" if fact.variable in STATE_KINDS else repr(fact.variable)
    run = f"run {fact.run}" if fact.run else "a local run"
    return Diagnostic(
        "info",
        "observed-write",
        f"{run} saw step {writer.name!r} {_verb(fact.how)} {what}{_where(fact.cell)} although "
        f"the analysis did not; {readers} now receive{'s' if len(routed) == 1 else ''} it from "
        f"{writer.name!r} (observed edge)",
        fact.cell,
        None,
        None,
        writer.name,
        writer.notebook,
    )


def _blocked_diagnostic(writer: Step, fact: Fact, blocked: list[str]) -> Diagnostic:
    first = blocked[0]
    return Diagnostic(
        "warning",
        "observed-write-unrouted",
        f"step {writer.name!r} {_verb(fact.how)} {fact.variable!r}{_where(fact.cell)}, which "
        f"step {first!r} reads, but {first!r} runs before it (prev:); the value cannot be passed",
        fact.cell,
        None,
        f"remove the prev: tags that make {first!r} run before {writer.name!r}",
        writer.name,
        writer.notebook,
    )


def _verb(how: str) -> str:
    return {"bound": "bind", "rebound": "rebind", "deleted": "delete"}.get(how, "change")


def _sorted(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    from .analyze import _diag_key

    return tuple(sorted(diags, key=_diag_key))


# ------------------------------------------------------------------------ thin shell


def store_path(notebook_path: str | os.PathLike[str], run_root: Any = None) -> Path:
    """``<run root>/observed/<hash>.json``; the run root defaults as the local engine's does."""
    from ..backends.local.records import default_run_root

    nb = Path(notebook_path).expanduser().absolute()
    root = Path(run_root).expanduser().absolute() if run_root else default_run_root(nb)
    key = hashlib.sha256(str(nb).encode("utf-8")).hexdigest()[:24]
    return root / OBSERVED_DIR / f"{key}.json"


def read_store(path: Path) -> dict[str, Any]:
    """The store at ``path``; a missing or unreadable one is empty (facts are a hint)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty_store()
    if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
        return empty_store()
    if not isinstance(data.get("steps"), dict):
        data["steps"] = {}
    return data


def with_observed(pipeline: Pipeline, run_root: Any = None) -> Pipeline:
    """``pipeline`` plus the observed edges stored for its notebook's current code."""
    if not pipeline.notebook_path:
        return pipeline
    store = read_store(store_path(pipeline.notebook_path, run_root))
    return apply_facts(pipeline, facts_for(store, pipeline))


def has_facts(pipeline: Pipeline, run_root: Any = None) -> bool:
    """Whether a run observed the current code of every step of ``pipeline``."""
    if not pipeline.notebook_path:
        return False
    return covered(read_store(store_path(pipeline.notebook_path, run_root)), pipeline)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-merge-write of one store (parallel runs of one notebook)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)  # the folder itself: no lock files left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def record_run(
    pipeline: Pipeline, run_dir: str | None, run_root: Any = None, *, always: bool = False
) -> Path | None:
    """Merge what the local run in ``run_dir`` observed into the notebook's store.

    Written when the run observed an undeclared write, when the store exists already, or
    ``always`` (``--observe``): a notebook without surprises leaves no file behind. Never
    fails the run: a store that cannot be written is skipped (facts are only a hint).
    """
    if not pipeline.notebook_path or not run_dir:
        return None
    try:
        record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    steps = record.get("steps") if isinstance(record, dict) else None
    if not isinstance(steps, dict):
        return None
    path = store_path(pipeline.notebook_path, run_root)
    seen = any(rec.get("observed") for rec in steps.values() if isinstance(rec, dict))
    if not (always or seen or path.is_file()):
        return None
    try:
        with _locked(path):
            store = read_store(path)
            store["notebook"] = str(Path(pipeline.notebook_path).absolute())
            merged = merge_run(store, pipeline, str(record.get("run_id") or ""), steps)
            fsutil.write_json_atomic(path, merged)
    except OSError:
        return None
    return path


def observe_pipeline(
    notebook: Any, *, run_root: Any = None, progress: Any = None, **overrides: Any
) -> Pipeline:
    """``--observe``: the pipeline of ``notebook`` (a path or a loaded Pipeline) with the
    facts of its current code, collected by one local run first when a step has none."""
    from ..errors import UsageError
    from .analyze import load_pipeline

    if isinstance(notebook, Pipeline):
        pipeline = notebook
    elif isinstance(notebook, (str, os.PathLike)):
        pipeline = load_pipeline(notebook, run_root=run_root, **overrides)
    else:
        pipeline = replace(load_pipeline(notebook, **overrides), notebook_path=None)
    if not pipeline.notebook_path:
        raise UsageError(
            "--observe needs a saved notebook: observed facts are kept per notebook file",
            kind="observe-needs-path",
            fix="save the notebook and pass its path",
        )
    if collect(pipeline, run_root=run_root, progress=progress):
        pipeline = with_observed(pipeline, run_root)
    return pipeline


def collect(pipeline: Pipeline, *, run_root: Any = None, progress: Any = None) -> bool:
    """Run ``pipeline`` locally once if no run observed its current code; True if it ran.

    A failed run raises :class:`RunFailed` naming the step, cell and error: nothing is
    compiled from a notebook that does not run.
    """
    from ..errors import RunFailed
    from .run import run

    notebook = pipeline.notebook_path or pipeline.name
    if has_facts(pipeline, run_root):
        return False
    result = run(pipeline, run_root=run_root, progress=progress)
    failed = result.failed_step
    if result.status != "succeeded" or failed is not None:
        name = failed.name if failed is not None else "?"
        where = f", cell {failed.cell}" if failed is not None and failed.cell is not None else ""
        error = failed.error if failed is not None and failed.error else result.status
        raise RunFailed(
            f"--observe: the local run of {Path(notebook).name} failed at step {name!r}{where}: "
            f"{error}; nothing was compiled",
            kind="observe-run-failed",
            step=name,
            cell=failed.cell if failed is not None else None,
            path=str(notebook),
            fix="fix the step (see `kale-like runs show "
            f"{result.run_id}`), or compile without --observe",
        )
    record_run(pipeline, result.run_dir, run_root, always=True)
    return True
