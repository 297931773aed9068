"""Names in the generated DSL: KFP-safe, collision-free, deterministic.

The user's names (steps, parameters, variables) stay the user's in the IR and in the step
spec; only the Python identifiers of the generated file are derived here. Every derived
name is an ASCII identifier that is not a keyword and does not shadow a name the templates
use, and two user names never map to one identifier.
"""

from __future__ import annotations

import hashlib
import keyword
import re
import unicodedata
from dataclasses import dataclass

from ..model import Pipeline, Step

# Names the templates use at module level, in the pipeline body or in a component body.
# A user name equal to one of them is mangled so it cannot shadow it.
RESERVED: frozenset[str] = frozenset(
    {
        # imports of the generated module
        "kfp",
        "dsl",
        "compiler",
        "kubernetes",
        "Input",
        "Output",
        "Artifact",
        "Metrics",
        "HTML",
        "Optional",
        "Path",
        "pipeline",
        # component body
        "run_step",
        "outcome",
        "_name",
        "_value",
        "isinstance",
        "int",
        "float",
        "bool",
        "json",
        # fixed artifact names of every component
        "kale_state",
        "mlpipeline_metrics",
        "report",
    }
)
STATE_PREFIX = "state_from_"
MAX_FUNCTION_NAME = 48  # KFP derives component/task names (and pod names) from it
MAX_PIPELINE_NAME = 128  # KFP: ^[a-z0-9][a-z0-9-]{0,127}$


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def ascii_identifier(name: str, *, lower: bool = False) -> str:
    """An ASCII identifier close to ``name`` (accents dropped, other characters -> ``_``)."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    if lower:
        text = text.lower()
    text = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not text or text[0].isdigit():
        text = "v_" + text
    if keyword.iskeyword(text):
        text += "_"
    return text


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def pipeline_kfp_name(name: str) -> str:
    """KFP pipeline name: lowercase letters, digits and ``-``, starting with a letter/digit."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if not text:
        text = "pipeline"
    if len(text) > MAX_PIPELINE_NAME:
        text = text[: MAX_PIPELINE_NAME - 9].rstrip("-") + "-" + _short_hash(name)
    return text


def k8s_name(name: str) -> str:
    """KFP's task/component name for a function name (``kfp.dsl.utils.maybe_rename_for_k8s``)."""
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")


def function_name(step_name: str) -> str:
    """A Python function name for a step: keywords get ``_``, long names are shortened."""
    base = ascii_identifier(step_name)
    if len(base) > MAX_FUNCTION_NAME:
        base = base[: MAX_FUNCTION_NAME - 9].rstrip("_") + "_" + _short_hash(step_name)
    return base


@dataclass(frozen=True)
class Names:
    """Every identifier of one generated module, keyed by the user's names."""

    parameters: dict[str, str]  # pipeline parameter -> KFP input name
    functions: dict[str, str]  # step -> component function name
    tasks: dict[str, str]  # step -> task variable in the pipeline body
    kfp_tasks: dict[str, str]  # step -> KFP task name (the task's folder under kfp.local)
    variables: dict[str, str]  # variable -> output artifact name (and input name, mostly)
    inputs: dict[str, dict[str, str]]  # step -> variable -> input argument name

    def state_input(self, producer: str) -> str:
        """Input name of the state snapshot a step takes from ``producer``."""
        return STATE_PREFIX + self.functions[producer]


def allocate_names(pipeline: Pipeline) -> Names:
    """Derive all identifiers of the generated module for ``pipeline``."""
    taken = set(RESERVED)
    parameters: dict[str, str] = {}
    for param in pipeline.parameters:  # analysis order: the order of the parameters cell
        base = ascii_identifier(param.name, lower=True)
        if base.startswith(STATE_PREFIX):  # the prefix names state inputs
            base = "param_" + base
        kfp = _unique(base, taken)
        parameters[param.name] = kfp
        taken.add(kfp)

    # Module level: component functions and task variables must not shadow parameters
    # (the pipeline body sees both) nor each other.
    # KFP names each task after its function (lower case, `_` -> `-`, ends stripped); keep
    # those unique too, so KFP never renames a task and its name is known here.
    functions: dict[str, str] = {}
    kfp_tasks: dict[str, str] = {}
    tasks: dict[str, str] = {}
    module_taken = set(taken)
    for step in pipeline.steps:
        base = function_name(step.name)
        fn = _unique(base, module_taken)
        n = 2
        while k8s_name(fn) in kfp_tasks.values() or not k8s_name(fn):
            fn = _unique(f"{base}_{n}", module_taken)
            n += 1
        module_taken.add(fn)
        functions[step.name] = fn
        kfp_tasks[step.name] = k8s_name(fn)
    for step in pipeline.steps:
        task = _unique(functions[step.name] + "_task", module_taken)
        module_taken.add(task)
        tasks[step.name] = task

    # Component arguments: variables share a namespace with parameters and fixed names.
    # Sorting makes a variable's name independent of which step is generated first; names
    # that need no change are placed before mangled ones so they keep their spelling.
    all_vars = sorted({v for s in pipeline.steps for v in _step_variables(s)})
    variables: dict[str, str] = {}
    arg_taken = set(taken)
    clean = [v for v in all_vars if ascii_identifier(v) == v and not _conflicts(v, arg_taken)]
    for var in clean:
        variables[var] = var
        arg_taken.add(var)
    for var in all_vars:
        if var in variables:
            continue
        base = ascii_identifier(var)
        if base.startswith(STATE_PREFIX):
            base = "var_" + base
        name = _unique(base + ("_" if base in RESERVED else ""), arg_taken)
        variables[var] = name
        arg_taken.add(name)
    # A step that changes a variable in place both loads and saves it: its input argument
    # then needs a name of its own (the output keeps the pipeline-wide name).
    inputs: dict[str, dict[str, str]] = {}
    for step in pipeline.steps:
        step_taken = set(RESERVED) | set(parameters.values())
        step_taken |= {variables[v] for v in _step_variables(step)}
        per_step: dict[str, str] = {}
        for var, _producer in step.inputs:
            name = variables[var]
            if var in step.outputs:
                name = _unique(name + "_in", step_taken)
                step_taken.add(name)
            per_step[var] = name
        inputs[step.name] = per_step
    return Names(
        parameters=parameters,
        functions=functions,
        tasks=tasks,
        kfp_tasks=kfp_tasks,
        variables=variables,
        inputs=inputs,
    )


def _conflicts(name: str, taken: set[str]) -> bool:
    return name in taken or name.startswith(STATE_PREFIX)


def _step_variables(step: Step) -> list[str]:
    return [var for var, _ in step.inputs] + list(step.outputs)
