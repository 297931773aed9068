"""The pipeline IR: frozen dataclasses every backend consumes.

The IR is the single source of truth after analysis: no backend re-reads the notebook.
Names here are the user's names; backends sanitize them for their own targets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic

# Process-global state kinds carried between steps (see analysis.py and runtime/state.py).
STATE_KINDS: tuple[str, ...] = (
    "random",  # random module RNG state
    "numpy.random",  # numpy legacy global RNG state
    "torch.random",  # torch global RNG state
    "os.environ",
    "cwd",
    "sys.path",
    "warnings",
    "pandas.options",
    "matplotlib.rc",
)

PARAM_TYPES = ("int", "float", "str", "bool", "list", "dict", "none")


@dataclass(frozen=True)
class Parameter:
    """A pipeline input from the parameters cell. ``type`` is one of PARAM_TYPES."""

    name: str
    default: Any
    type: str
    cell: int | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "default": self.default}


@dataclass(frozen=True)
class Metric:
    """A ``print(name)`` line of the metrics cell, attached to the last step writing it."""

    name: str
    step: str
    cell: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class StepSettings:
    """Per-step execution settings from tags and ``steps_defaults`` (all optional)."""

    image: str | None = None
    limits: tuple[tuple[str, str], ...] = ()  # (resource, value), e.g. ("memory", "2Gi")
    requests: tuple[tuple[str, str], ...] = ()
    cache: bool | None = None
    retries: int | None = None
    timeout: int | None = None  # seconds
    env: tuple[tuple[str, str], ...] = ()  # (NAME, VALUE)
    secrets: tuple[tuple[str, str, str], ...] = ()  # (secret name, key, ENV NAME)
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()  # (pvc name, mount path)
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[str, str, str], ...] = ()  # (key, operator/value, effect)
    report: bool | None = None
    config_maps: tuple[tuple[str, str, str], ...] = ()  # (config map name, key, ENV NAME)
    # (field, value as written): run_as_user / run_as_group digits, run_as_non_root true|false
    security_context: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Only the settings that are set; pairs become objects."""
        out: dict[str, Any] = {}
        if self.image is not None:
            out["image"] = self.image
        for key in ("limits", "requests", "env", "annotations", "labels", "node_selector"):
            pairs = getattr(self, key)
            if pairs:
                out[key] = dict(pairs)
        if self.cache is not None:
            out["cache"] = "enabled" if self.cache else "disabled"
        if self.retries is not None:
            out["retries"] = self.retries
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.secrets:
            out["secrets"] = [{"secret": s, "key": k, "env": e} for s, k, e in self.secrets]
        if self.volumes:
            out["volumes"] = [{"pvc": p, "mount_path": m} for p, m in self.volumes]
        if self.tolerations:
            out["tolerations"] = [
                {"key": k, "value": v, "effect": e} for k, v, e in self.tolerations
            ]
        if self.report is not None:
            out["report"] = "enabled" if self.report else "disabled"
        if self.config_maps:
            out["config_maps"] = [
                {"config_map": c, "key": k, "env": e} for c, k, e in self.config_maps
            ]
        if self.security_context:
            out["security_context"] = {f: _typed(v) for f, v in self.security_context}
        return out


def _typed(value: str) -> Any:
    """A security-context value as JSON: true/false, a whole number, else the text."""
    if value in ("true", "false"):
        return value == "true"
    return int(value) if value.isascii() and value.isdigit() else value


@dataclass(frozen=True)
class Step:
    """One pipeline step: a run of notebook cells executed in one process.

    ``inputs`` maps each variable the step loads to the step that produces it (its last
    writer); ``state_inputs`` does the same for process-global state kinds (STATE_KINDS).
    ``after`` lists every step this one must run after (data or explicit ``prev:``).
    """

    name: str
    cells: tuple[int, ...]
    sources: tuple[str, ...]  # the raw source of each cell, magics included
    after: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()  # (variable, producer step)
    outputs: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()  # pipeline parameters this step reads
    state_inputs: tuple[tuple[str, str], ...] = ()  # (state kind, producer step)
    state_outputs: tuple[str, ...] = ()  # state kinds this step changes
    metrics: tuple[str, ...] = ()  # metrics this step produces
    modules: tuple[str, ...] = ()  # top-level modules its code imports (incl. prelude, functions)
    settings: StepSettings = field(default_factory=StepSettings)
    # Everything the analysis saw the step read (prelude names and parameters included) and
    # write (bound, changed, deleted): the runtime compares what it observes with these.
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    # Composition (``notebook:NAME``): the referenced notebook the step's cells are in,
    # relative to the main notebook (posix); None: the main notebook. ``cells`` index it.
    notebook: str | None = None
    # Files in the working directory, by literal path (analysis/files.py): read before the
    # step writes them, written, and (path, producer) for those an earlier step writes.
    file_reads: tuple[str, ...] = ()
    file_writes: tuple[str, ...] = ()
    file_inputs: tuple[tuple[str, str], ...] = ()
    # Inputs that come over an *observed* edge: a local run saw the producer write them
    # although the analysis did not (api/observed.py); a subset of ``inputs``' variables.
    observed: tuple[str, ...] = ()
    observed_state: tuple[str, ...] = ()  # likewise for state kinds (a subset of state_inputs')

    @property
    def input_map(self) -> dict[str, str]:
        return dict(self.inputs)

    @property
    def code_digest(self) -> str:
        h = hashlib.sha256()
        for src in self.sources:
            h.update(src.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cells": list(self.cells),
            "after": list(self.after),
            "inputs": dict(self.inputs),
            "outputs": list(self.outputs),
            "parameters": list(self.parameters),
            "state": dict(self.state_inputs),
            "state_outputs": list(self.state_outputs),
            "metrics": list(self.metrics),
            "settings": self.settings.to_json(),
            **({"notebook": self.notebook} if self.notebook is not None else {}),
            **self._files_json(),
            # Only when there are any, so the JSON of other notebooks is unchanged.
            **({"observed": list(self.observed)} if self.observed else {}),
            **({"observed_state": list(self.observed_state)} if self.observed_state else {}),
        }

    def _files_json(self) -> dict[str, Any]:
        # Only when there are any, so notebooks without file I/O keep their JSON unchanged.
        out: dict[str, Any] = {}
        if self.file_inputs:
            out["file_inputs"] = dict(self.file_inputs)
        if self.file_reads:
            out["file_reads"] = list(self.file_reads)
        if self.file_writes:
            out["file_writes"] = list(self.file_writes)
        return out


@dataclass(frozen=True)
class Prelude:
    """Code every step replays before its own cells: imports and functions cells."""

    imports: tuple[str, ...] = ()  # raw sources of `imports` cells
    functions: tuple[str, ...] = ()  # raw sources of `functions` cells
    import_cells: tuple[int, ...] = ()
    function_cells: tuple[int, ...] = ()


@dataclass(frozen=True)
class CellRole:
    """What one code cell is in the pipeline (``analyze`` shows it): ``role`` is ``step``,
    a special kind (``imports``, ``functions``, ``pipeline-parameters``, ...), ``skip`` or
    ``outside`` (untagged above every tagged cell: left out, as in Kale); ``joined`` marks an
    untagged cell (or one with an empty ``step:`` tag) that joins the block above it."""

    cell: int
    role: str
    step: str | None = None
    joined: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "role": self.role, "step": self.step, "joined": self.joined}


@dataclass(frozen=True)
class Pipeline:
    """The whole pipeline: what every backend consumes."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    experiment: str | None = None
    parameters: tuple[Parameter, ...] = ()
    metrics: tuple[Metric, ...] = ()
    prelude: Prelude = field(default_factory=Prelude)
    base_image: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    notebook_path: str | None = None
    notebook_digest: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    python_version: str = ""
    cells: tuple[CellRole, ...] = ()
    # Composition: the prelude of each referenced notebook (its steps replay it instead of
    # ``prelude``), keyed like ``Step.notebook``, in reading order.
    preludes: tuple[tuple[str, Prelude], ...] = ()
    # Composition: every step in reading order (cell indices alone do not give it there).
    reading: tuple[str, ...] = ()

    def prelude_for(self, step: Step) -> Prelude:
        """The imports/functions ``step`` replays: its own notebook's."""
        if step.notebook is not None:
            for name, prelude in self.preludes:
                if name == step.notebook:
                    return prelude
        return self.prelude

    @property
    def notebooks(self) -> list[str]:
        """Referenced notebooks of a composition, in reading order (empty otherwise)."""
        return [name for name, _ in self.preludes]

    def reading_order(self) -> list[Step]:
        """Steps in the order a top-to-bottom run meets them (by first cell, or the
        composition's reading order)."""
        if self.reading:
            by_name = {s.name: s for s in self.steps}
            return [by_name[n] for n in self.reading]
        return sorted(self.steps, key=lambda s: min(s.cells) if s.cells else -1)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract of ``kale-like analyze --format json``."""
        return {
            "pipeline": {
                "name": self.name,
                "description": self.description,
                "experiment": self.experiment,
                "parameters": {p.name: p.to_json() for p in self.parameters},
                "metrics": [m.name for m in self.metrics],
            },
            "steps": [s.to_json() for s in self.steps],
            "cells": [c.to_json() for c in self.cells],
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }

    def digest(self) -> str:
        """Content digest of everything that affects execution."""
        blob = json.dumps(
            {
                "ir": self.to_json(),
                "prelude": [self.prelude.imports, self.prelude.functions],
                **(
                    {"preludes": [[n, p.imports, p.functions] for n, p in self.preludes]}
                    if self.preludes
                    else {}
                ),
                "sources": [s.sources for s in self.steps],
            },
            sort_keys=True,
            default=repr,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()
