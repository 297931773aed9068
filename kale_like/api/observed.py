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
from ..errors import cell_label
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
    """One undeclared effect a run observed for the current code of step ``step``.

    ``state`` False: the step bound, rebound, deleted or changed the variable ``name``.
    ``state`` True: ``name`` is a global-state kind (model.STATE_KINDS) the step changed
    (``how == "changed"``) or drew from (``how == "drew"``) without the analysis seeing it.
    """

    step: str
    name: str
    how: str
    cell: int | None
    run: str
    state: bool = False
    prelude: bool = False


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
    a finished step adds its run, its undeclared writes (``observed``, one per variable)
    and its undeclared state effects (``state_observed``, or what ``state_replanned``
    implies: the producer changed the kind, the consumer drew from it).
    """
    codes = {s.name: step_code(pipeline, s) for s in pipeline.steps}
    old = store.get("steps")
    if not isinstance(old, Mapping):
        old = {}
    live = set(codes.values())
    out: dict[str, Any] = {k: _copy_entry(v) for k, v in old.items() if k in live}
    finished = {n for n, rec in steps.items() if n in codes and rec.get("status") in _FINISHED}
    found_state = _state_effects(steps, finished)
    for name in sorted(finished):
        rec = steps[name]
        entry = out.setdefault(codes[name], {"step": name, "runs": [], "writes": [], "state": []})
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
                "cell": _int(w.get("cell")),
                "prelude": bool(w.get("prelude")),
                "later": [str(x) for x in w.get("later") or ()],
                "run": run_id,
            }
        entry["writes"] = [writes[v] for v in sorted(writes)]
        state = {(e["kind"], e["how"]): e for e in entry["state"]}
        for kind, how, cell in found_state.get(name, ()):
            state[(kind, how)] = {"kind": kind, "how": how, "cell": cell, "run": run_id}
        entry["state"] = [state[k] for k in sorted(state)]
    return {"version": STORE_VERSION, "notebook": store.get("notebook"), "steps": out}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state_effects(
    steps: Mapping[str, Mapping[str, Any]], finished: set[str]
) -> dict[str, list[tuple[str, str, int | None]]]:
    """Per step: (kind, "changed" | "drew", cell) the analysis did not see."""
    out: dict[str, list[tuple[str, str, int | None]]] = {}
    for name in finished:
        for f in steps[name].get("state_observed") or ():
            if not isinstance(f, Mapping) or f.get("kind") not in STATE_KINDS:
                continue
            kind = str(f["kind"])
            if f.get("drew") and not f.get("received"):
                out.setdefault(name, []).append((kind, "drew", _int(f.get("first_cell"))))
            if not f.get("declared"):
                out.setdefault(name, []).append((kind, "changed", _int(f.get("cell"))))
        replanned = steps[name].get("state_replanned") or {}
        if isinstance(replanned, Mapping):
            for kind, producer in replanned.items():
                if kind not in STATE_KINDS or producer not in finished:
                    continue
                out.setdefault(name, []).append((str(kind), "drew", None))
                out.setdefault(str(producer), []).append((str(kind), "changed", None))
    for name, effects in out.items():  # one per (kind, how); a located one wins
        best: dict[tuple[str, str], tuple[str, str, int | None]] = {}
        for e in effects:
            if (e[0], e[1]) not in best or best[(e[0], e[1])][2] is None:
                best[(e[0], e[1])] = e
        out[name] = sorted(best.values(), key=lambda e: (e[0], e[1]))
    return out


def _copy_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        return {"step": "", "runs": [], "writes": [], "state": []}
    writes = [dict(w) for w in entry.get("writes") or () if isinstance(w, Mapping)]
    state = [
        dict(e)
        for e in entry.get("state") or ()
        if isinstance(e, Mapping) and e.get("kind") in STATE_KINDS and e.get("how") in _HOWS
    ]
    return {
        "step": str(entry.get("step") or ""),
        "runs": [str(r) for r in entry.get("runs") or ()],
        "writes": writes,
        "state": state,
    }


_HOWS = ("changed", "drew")


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
        entry = _copy_entry(entry)
        for w in entry["writes"]:
            if isinstance(w.get("variable"), str):
                how = str(w.get("how") or "changed")
                run = str(w.get("run") or "")
                prelude = bool(w.get("prelude"))
                out.append(
                    Fact(s.name, w["variable"], how, _int(w.get("cell")), run, False, prelude)
                )
        for e in entry["state"]:
            out.append(
                Fact(
                    s.name, e["kind"], e["how"], _int(e.get("cell")), str(e.get("run") or ""), True
                )
            )
    return out


def apply_facts(pipeline: Pipeline, facts: Iterable[Fact]) -> Pipeline:
    """The pipeline with the observed edges the facts imply.

    A variable: each later step that reads the name (and would otherwise take it from
    before the writer) receives it from the writer, which now declares it. Writers are
    taken in notebook order, so a later writer of the same name wins, as top to bottom.
    A state kind: an observed change makes the step a writer of the kind; a step that
    draws from it (observed, or a reader the analysis saw) takes it from the last writer
    before it in notebook order when that writer or the draw was observed.
    An edge that would close a cycle (``prev:`` runs the reader first) is left out with a
    warning naming the fix.
    """
    facts = list(facts)
    if not facts:
        return pipeline
    pos = {s.name: i for i, s in enumerate(pipeline.reading_order())}
    steps = {s.name: s for s in pipeline.steps}
    diags: list[Diagnostic] = []
    facts = [f for f in facts if f.step in steps]
    for fact in sorted(facts, key=lambda f: (pos[f.step], f.name)):
        if not fact.state:
            diags += _route_variable(pipeline, steps, pos, fact)
    diags += _route_state(steps, pos, [f for f in facts if f.state])
    if not diags:
        return pipeline
    ordered = _topological(pipeline, steps)
    return replace(pipeline, steps=ordered, diagnostics=_sorted([*pipeline.diagnostics, *diags]))


def _route_variable(
    pipeline: Pipeline, steps: dict[str, Step], pos: Mapping[str, int], fact: Fact
) -> list[Diagnostic]:
    from ..runtime.spec import later_readers

    writer = steps[fact.step]
    current = replace(pipeline, steps=tuple(steps.values()))
    routed: list[str] = []
    blocked: list[str] = []
    for name in later_readers(current, writer).get(fact.name, []):
        consumer = steps[name]
        source = consumer.input_map.get(fact.name)
        if source is not None and pos[source] >= pos[writer.name]:
            continue  # the writer, or a step after it, already provides it
        if name in _ancestors(steps, writer.name):
            blocked.append(name)
            continue
        after = consumer.after if writer.name in consumer.after else (*consumer.after, writer.name)
        inputs = [(v, p) for v, p in consumer.inputs if v != fact.name] + [(fact.name, writer.name)]
        observed = tuple(dict.fromkeys([*consumer.observed, fact.name]))
        steps[name] = replace(consumer, inputs=tuple(inputs), after=after, observed=observed)
        routed.append(name)
    out: list[Diagnostic] = []
    if routed:  # the writer declares it: the runtime saves it instead of failing the step
        w = steps[writer.name]
        outputs = w.outputs if fact.name in w.outputs else (*w.outputs, fact.name)
        steps[writer.name] = replace(
            w, outputs=outputs, writes=tuple(sorted({*w.writes, fact.name}))
        )
        out.append(_routed_diagnostic(writer, fact, routed))
    if blocked:
        out.append(_blocked_diagnostic(writer, fact, blocked[0]))
    return out


def _route_state(
    steps: dict[str, Step], pos: Mapping[str, int], facts: list[Fact]
) -> list[Diagnostic]:
    changed = {(f.step, f.name): f for f in facts if f.how == "changed"}
    drew = {(f.step, f.name): f for f in facts if f.how == "drew"}
    for step, kind in changed:
        w = steps[step]
        kinds = {*w.state_outputs, kind}
        steps[step] = replace(w, state_outputs=tuple(k for k in STATE_KINDS if k in kinds))
    order = sorted(steps, key=pos.__getitem__)
    out: list[Diagnostic] = []
    routed: dict[tuple[str, str], list[str]] = {}
    for kind in STATE_KINDS:
        for i, name in enumerate(order):
            consumer = steps[name]
            current = dict(consumer.state_inputs).get(kind)
            if (name, kind) not in drew and current is None:
                continue  # neither observed drawing nor a reader the analysis saw
            writer = next((w for w in reversed(order[:i]) if kind in steps[w].state_outputs), None)
            if writer is None or writer == current:
                continue
            if (writer, kind) not in changed and (name, kind) not in drew:
                continue  # nothing observed about this pair: the analysis' choice stands
            if current is not None and pos[current] > pos[writer]:
                continue
            if name in _ancestors(steps, writer):
                fact = drew.get((name, kind)) or changed[(writer, kind)]
                out.append(_blocked_diagnostic(steps[writer], replace(fact, step=writer), name))
                continue
            after = consumer.after if writer in consumer.after else (*consumer.after, writer)
            pairs = [(k, p) for k, p in consumer.state_inputs if k != kind] + [(kind, writer)]
            seen = tuple(dict.fromkeys([*consumer.observed_state, kind]))
            steps[name] = replace(
                consumer, state_inputs=tuple(pairs), after=after, observed_state=seen
            )
            routed.setdefault((writer, kind), []).append(name)
    for (writer, kind), names in routed.items():
        change = changed.get((writer, kind))
        if change is not None:
            out.append(_routed_diagnostic(steps[writer], change, names))
            continue
        for n in names:  # the analysis saw the change; the draws were observed
            out.append(_drew_diagnostic(steps[n], drew[(n, kind)], writer))
    return out


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
    return f" in {cell_label(cell)}" if cell is not None else ""


def _what(fact: Fact) -> str:
    return f"<{fact.name} state>" if fact.state else repr(fact.name)


def _run(fact: Fact) -> str:
    return f"run {fact.run}" if fact.run else "a local run"


def _routed_diagnostic(writer: Step, fact: Fact, routed: list[str]) -> Diagnostic:
    readers = ", ".join(repr(r) for r in routed)
    return Diagnostic(
        "info",
        "observed-write",
        f"{_run(fact)} saw step {writer.name!r} {_verb(fact.how)} {_what(fact)}"
        f"{_where(fact.cell)} although the analysis did not; {readers} now "
        f"receive{'s' if len(routed) == 1 else ''} it from {writer.name!r} (observed edge)",
        fact.cell,
        None,
        None,
        writer.name,
        writer.notebook,
    )


def _drew_diagnostic(reader: Step, fact: Fact, writer: str) -> Diagnostic:
    return Diagnostic(
        "info",
        "observed-write",
        f"{_run(fact)} saw step {reader.name!r} draw from {_what(fact)}{_where(fact.cell)} "
        f"although the analysis did not; it now receives it from {writer!r}, which changes "
        "it before (observed edge)",
        fact.cell,
        None,
        None,
        reader.name,
        reader.notebook,
    )


def _blocked_diagnostic(writer: Step, fact: Fact, reader: str) -> Diagnostic:
    return Diagnostic(
        "warning",
        "observed-write-unrouted",
        f"step {writer.name!r} {_verb(fact.how)}s {_what(fact)}{_where(fact.cell)}, which "
        f"step {reader!r} reads, but {reader!r} runs before it (prev:); the value cannot be "
        "passed",
        fact.cell,
        None,
        f"remove the prev: tags that make {reader!r} run before {writer.name!r}",
        writer.name,
        writer.notebook,
    )


def _verb(how: str) -> str:
    return {"bound": "bind", "rebound": "rebind", "deleted": "delete", "drew": "draw from"}.get(
        how, "change"
    )


def _sorted(diags: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    from .analyze import _diag_key

    return tuple(sorted(diags, key=_diag_key))


# ------------------------------------------------------------------------ thin shell


def store_path(notebook_path: str | os.PathLike[str], run_root: Any = None) -> Path:
    """``<run root>/observed/<hash>.json``; the run root defaults as the local engine's does."""
    nb = Path(notebook_path).expanduser().absolute()
    root = Path(run_root).expanduser().absolute() if run_root else default_root(nb)
    key = hashlib.sha256(str(nb).encode("utf-8")).hexdigest()[:24]
    return root / OBSERVED_DIR / f"{key}.json"


def default_root(notebook_path: Path) -> Path:
    """The local engine's default run root (``backends/local/records.default_run_root``):
    ``$KALE_LIKE_RUN_ROOT``, else ``.kale_like/`` beside the notebook. Kept here so loading
    a pipeline does not import the engine (~70 ms); a test holds the two equal."""
    env = os.environ.get("KALE_LIKE_RUN_ROOT")
    if env:
        return Path(env).expanduser().absolute()
    return notebook_path.parent / ".kale_like"


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
    # One step at a time, in the IR's order (notebook order among independent steps): a
    # writer finishes before a reader starts, so no reader fails before the re-plan.
    result = run(pipeline, run_root=run_root, progress=progress, jobs=1)
    failed = result.failed_step
    if result.status != "succeeded" or failed is not None:
        name = failed.name if failed is not None else "?"
        where = (
            f", {cell_label(failed.cell)}" if failed is not None and failed.cell is not None else ""
        )
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
