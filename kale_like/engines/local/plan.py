"""Which steps a run executes: ``--no-cache``, ``--from STEP`` and ``--only STEP`` as a Plan."""

from __future__ import annotations

from dataclasses import dataclass

from ...dag import ancestors_of
from ...errors import UsageError
from ...model import Pipeline, Step


@dataclass(frozen=True)
class Plan:
    """Which steps run: ``force`` ignore the cache, ``resolve`` must come from the cache,
    ``skip`` are not part of this run."""

    force: frozenset[str] = frozenset()
    resolve: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()


def _edges(step: Step) -> set[str]:
    return set(step.after) | {p for _, p in step.inputs} | {p for _, p in step.state_inputs}


def descendants(pipeline: Pipeline, names: set[str]) -> set[str]:
    out = set(names)
    for step in pipeline.steps:  # topological order
        if _edges(step) & out:
            out.add(step.name)
    return out


def parents(pipeline: Pipeline) -> dict[str, set[str]]:
    """Every step's direct upstream steps: ``after`` and the producers of its inputs."""
    return {s.name: _edges(s) for s in pipeline.steps}


def ancestors(pipeline: Pipeline, names: set[str]) -> frozenset[str]:
    """Every step ``names`` depend on, directly or not."""
    return ancestors_of(parents(pipeline), names)


def make_plan(
    pipeline: Pipeline, *, use_cache: bool, from_step: str | None, only: tuple[str, ...]
) -> Plan:
    """Turn ``--no-cache / --from / --only`` into a :class:`Plan` (unknown step -> exit 2)."""
    names = pipeline.step_names
    for flag, wanted in (("--from", [from_step] if from_step else []), ("--only", list(only))):
        for name in wanted:
            if name not in names:
                raise UsageError(
                    f"{flag}: unknown step {name!r}; steps: {', '.join(names)}",
                    kind="unknown-step",
                )
    force: set[str] = set()
    if not use_cache:
        force = set(names)
    force |= {s.name for s in pipeline.steps if s.settings.cache is False}
    if from_step:
        force |= descendants(pipeline, {from_step})
    if not only:
        return Plan(force=frozenset(force))
    selected = set(only)
    up = parents(pipeline)
    # A needed step downstream of a selected one must be recomputed too.
    for step in pipeline.steps:
        if step.name not in selected and (
            ancestors_of(up, step.name) & selected and step.name in ancestors_of(up, selected)
        ):
            selected.add(step.name)
    resolve = ancestors_of(up, selected) - selected
    if from_step and from_step in resolve:
        # --from asks to re-run it, --only to take it from the cache: neither can win.
        raise UsageError(
            f"--from {from_step} re-runs step {from_step!r}, which --only "
            f"{','.join(only)} takes from the cache",
            kind="conflicting-options",
            fix=f"add --only {from_step}, or drop --from",
        )
    skip = set(names) - selected - resolve
    return Plan(force=frozenset(force | selected), resolve=frozenset(resolve), skip=frozenset(skip))


def missing_producer(pipeline: Pipeline, plan: Plan, missing: Step) -> UsageError:
    """Name what a selected step needs and which producer has no cached result."""
    selected = [s for s in pipeline.steps if s.name in plan.force and s.name not in plan.skip]
    up = parents(pipeline)
    for sel in selected:
        needs = {p for p in _edges(sel) if p in plan.resolve}
        direct = sorted(needs, key=pipeline.step_names.index)
        for producer in direct:
            if producer != missing.name and missing.name not in ancestors_of(up, producer):
                continue
            variables = [v for v, p in sel.inputs if p == producer]
            what = ", ".join(map(repr, variables)) if variables else "results"
            upstream = (
                ""
                if producer == missing.name
                else f" (its upstream step {missing.name!r} has none)"
            )
            return UsageError(
                f"--only: step {sel.name!r} needs {what} from step {producer!r}, which has "
                f"no cached result for the current code and parameters{upstream}",
                kind="missing-producer",
                fix=f"run the whole pipeline once, or add --only {producer}",
            )
    return UsageError(
        f"--only: step {missing.name!r} has no cached result for the current code and "
        "parameters, and the selected steps need it",
        kind="missing-producer",
        fix=f"run the whole pipeline once, or add --only {missing.name}",
    )
