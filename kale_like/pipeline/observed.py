"""Observed facts, the read side: what earlier local runs of the current code saw.

A local run reports each step's *undeclared writes* (runtime/observe.py); ``api/observed.py``
keeps them per notebook in a JSON store under the run root, ``observed/<hash of the notebook
path>.json``, keyed by a digest of each step's code (its cells and the prelude it replays),
so editing a step's code drops that step's facts. Loading a pipeline reads the facts of
its current code and turns them into *observed edges* (``observed_edges.with_observed``),
so every verb that loads a pipeline sees them.

Store layout (version 1)::

    {"version": 1, "notebook": "/abs/nb.ipynb",
     "steps": {"<code digest>": {"step": "sneak", "runs": ["<run id>", ...],
                                 "writes": [{"variable": "z", "how": "bound", "cell": 1,
                                             "prelude": false, "later": ["use"],
                                             "run": "<run id>"}]}}}

A step's digest in the store means a run observed that code to the end (with or without
undeclared writes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fsutil
from ..model import STATE_KINDS, Pipeline, Step
from ..records import default_run_root

__all__ = [
    "OBSERVED_DIR",
    "STORE_VERSION",
    "Fact",
    "copy_entry",
    "covered",
    "default_root",
    "empty_store",
    "facts_for",
    "has_facts",
    "int_or_none",
    "merge_run",
    "read_store",
    "record_run",
    "step_code",
    "store_path",
]

STORE_VERSION = 1
OBSERVED_DIR = "observed"


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


def step_code(pipeline: Pipeline, step: Step) -> str:
    """Digest of what decides a step's writes: its cells and the prelude it replays."""
    prelude = pipeline.prelude_for(step)
    blob = json.dumps(
        [step.notebook, list(step.sources), list(prelude.imports), list(prelude.functions)]
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def empty_store(notebook: str | None = None) -> dict[str, Any]:
    return {"version": STORE_VERSION, "notebook": notebook, "steps": {}}


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def copy_entry(entry: Any) -> dict[str, Any]:
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
        entry = copy_entry(entry)
        for w in entry["writes"]:
            if isinstance(w.get("variable"), str):
                how = str(w.get("how") or "changed")
                run = str(w.get("run") or "")
                prelude = bool(w.get("prelude"))
                out.append(
                    Fact(
                        s.name, w["variable"], how, int_or_none(w.get("cell")), run, False, prelude
                    )
                )
        for e in entry["state"]:
            out.append(
                Fact(
                    s.name,
                    e["kind"],
                    e["how"],
                    int_or_none(e.get("cell")),
                    str(e.get("run") or ""),
                    True,
                )
            )
    return out


def store_path(notebook_path: str | os.PathLike[str], run_root: Any = None) -> Path:
    """``<run root>/observed/<hash>.json``; the run root defaults as the local engine's does."""
    nb = Path(notebook_path).expanduser().absolute()
    root = Path(run_root).expanduser().absolute() if run_root else default_root(nb)
    key = hashlib.sha256(str(nb).encode("utf-8")).hexdigest()[:24]
    return root / OBSERVED_DIR / f"{key}.json"


def default_root(notebook_path: Path) -> Path:
    """The local engine's default run root for ``notebook_path``, absolute."""
    return default_run_root(notebook_path).absolute()


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


def has_facts(pipeline: Pipeline, run_root: Any = None) -> bool:
    """Whether a run observed the current code of every step of ``pipeline``."""
    if not pipeline.notebook_path:
        return False
    return covered(read_store(store_path(pipeline.notebook_path, run_root)), pipeline)


# Steps whose observations count: they ran to the end (a cached step replays its report).
_FINISHED = ("succeeded", "cached")


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
    out: dict[str, Any] = {k: copy_entry(v) for k, v in old.items() if k in live}
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
                "cell": int_or_none(w.get("cell")),
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
                out.setdefault(name, []).append((kind, "drew", int_or_none(f.get("first_cell"))))
            if not f.get("declared"):
                out.setdefault(name, []).append((kind, "changed", int_or_none(f.get("cell"))))
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
