"""Workspace artifacts in the generated DSL: the files a step hands to later steps.

Every component outputs its ``workspace`` (files its cells created, changed or deleted in
its working directory; :mod:`kale_like.runtime.workspace`) and takes the workspaces of all
its ancestors, restored in topological order before its cells. Passing every ancestor's
workspace — not only those the analysis saw write a file by literal path — keeps a step
right when a path is computed at run time; an empty workspace costs one small artifact.

Argument names are chosen here, per component, so that they can never equal (under KFP's
name folding) a parameter, variable or state argument of the same component.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dag import ancestors_of
from ..model import Pipeline, Step
from .names import Names, kfp_fold

OUTPUT_BASE = "kale_workspace"
INPUT_PREFIX = "kale_workspace_from_"


@dataclass(frozen=True)
class WorkspaceNames:
    outputs: dict[str, str]  # step -> its workspace output name
    inputs: dict[str, list[tuple[str, str]]]  # step -> [(ancestor, input argument)], in order


def ancestors(pipeline: Pipeline, step: Step) -> list[str]:
    """Every step ``step`` runs after (transitively), in the pipeline's topological order."""
    found = ancestors_of({s.name: s.after for s in pipeline.steps}, step.name)
    return [s for s in pipeline.step_names if s in found]


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while kfp_fold(name) in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(kfp_fold(name))
    return name


def _taken(step: Step, names: Names, pipeline: Pipeline) -> set[str]:
    """Folded names of the component's other arguments."""
    used = {names.parameters[p] for p in step.parameters}
    used |= set(names.inputs[step.name].values())
    used |= {names.variables[v] for v in step.outputs}
    used |= {names.state_input(p) for _k, p in step.state_inputs}
    used |= {"kale_state", "mlpipeline_metrics", "report"}
    return {kfp_fold(n) for n in used}


def workspace_names(pipeline: Pipeline, names: Names) -> WorkspaceNames:
    """The workspace output of every step and the inputs each takes from its ancestors."""
    outputs: dict[str, str] = {}
    taken = {s.name: _taken(s, names, pipeline) for s in pipeline.steps}
    # Output names first (consumers refer to them), unique within each producer.
    for step in pipeline.steps:
        outputs[step.name] = _unique(OUTPUT_BASE, taken[step.name])
    inputs: dict[str, list[tuple[str, str]]] = {}
    for step in pipeline.steps:
        inputs[step.name] = [
            (a, _unique(INPUT_PREFIX + names.functions[a], taken[step.name]))
            for a in ancestors(pipeline, step)
        ]
    return WorkspaceNames(outputs, inputs)
