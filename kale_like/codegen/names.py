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
from collections.abc import Iterable
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
# Artifacts every component may output: KFP names must differ from them under kfp_fold.
FIXED_ARTIFACTS: tuple[str, ...] = ("kale_state", "mlpipeline_metrics", "report")
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


# KFP refuses an input/output name that does not match this (``PipelineChannel``).
_KFP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_LETTER_NAME = re.compile(r"(?:[A-Z-]+ )*?(CAPITAL|SMALL)? ?LETTER (.+)")


def kfp_fold(name: str) -> str:
    """The key under which two KFP names must differ.

    KFP lower-cases names and turns runs of other characters into one separator (task
    names, ``sanitize_input_name`` when a component is loaded back), and a task's outputs
    are files named after them, which differ only in case on a case-insensitive disk.
    """
    return kfp_task_name(name)


def is_kfp_name(name: str) -> bool:
    """Whether KFP accepts ``name`` as an input/output name and Python as an argument."""
    return bool(_KFP_NAME.match(name)) and not keyword.iskeyword(name)


def transliterate(name: str) -> str:
    """An ASCII spelling of ``name``: accents dropped, ``ß`` -> ``ss``, letters of other
    scripts by their Unicode name (``Δ`` -> ``Delta``), anything else as ``uXXXX``."""
    out: list[str] = []
    apart = False  # the last piece was a spelled-out name: keep it apart from what follows
    for ch in unicodedata.normalize("NFKD", name):
        if unicodedata.combining(ch):
            continue
        folded = ch.casefold()
        if ch.isascii() or (folded.isascii() and folded.isalnum()):
            if apart and ch.isalnum():
                out.append("_")
            out.append(ch if ch.isascii() else folded)
            apart = False
            continue
        match = _LETTER_NAME.fullmatch(unicodedata.name(ch, ""))
        if match:
            word = re.sub(r"[^a-z0-9]+", "_", match.group(2).lower()).strip("_")
            word = word.capitalize() if match.group(1) == "CAPITAL" else word
        else:
            word = f"u{ord(ch):04x}"
        if out and out[-1][-1:].isalnum():
            out.append("_")
        out.append(word)
        apart = True
    return "".join(out)


def kfp_base(name: str, *, lower: bool = False) -> str:
    """A KFP-acceptable name close to ``name`` (before de-duplication).

    A name already acceptable after :func:`ascii_identifier` keeps that spelling (so
    compiled pipelines keep their names); others are transliterated and, when they start
    with ``_`` or a digit, prefixed (``_`` -> ``var_``, ``_x`` -> ``var_x``).
    """
    text = ascii_identifier(name, lower=lower)
    if is_kfp_name(text):
        return text
    text = transliterate(name)
    if lower:
        text = text.lower()
    text = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not text[:1].isalpha():
        text = ("var" if text.startswith("_") else "var_") + text
    if keyword.iskeyword(text):
        text += "_"
    return text


class _Namespace:
    """Names handed out so far: exact spellings, and their KFP folds (:func:`kfp_fold`)."""

    def __init__(self, exact: Iterable[str] = (), folded: Iterable[str] = ()) -> None:
        self.exact = set(exact)
        self.folded = set(folded)

    def free(self, name: str) -> bool:
        return name not in self.exact and kfp_fold(name) not in self.folded

    def add(self, name: str) -> str:
        self.exact.add(name)
        self.folded.add(kfp_fold(name))
        return name

    def unique(self, base: str) -> str:
        """``base``, else ``base_2``, ``base_3``... whichever is free first; taken."""
        name, n = base, 2
        while not self.free(name):
            name, n = f"{base}_{n}", n + 1
        return self.add(name)


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


def kfp_task_name(name: str) -> str:
    """KFP's task/component name for a function name (``kfp.dsl.utils.maybe_rename_for_k8s``)."""
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")


def function_name(step_name: str) -> str:
    """A Python function name for a step: keywords get ``_``, long names are shortened.

    KFP names the task after it with ``_`` and ends dropped: a name that would leave
    nothing or only digits there (``_``, ``_1``) is prefixed so the task reads ``step-1``.
    """
    base = ascii_identifier(step_name)
    if not kfp_task_name(base)[:1].isalpha():
        base = "step" + base
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


_FIXED_FOLDS = frozenset(kfp_fold(n) for n in FIXED_ARTIFACTS)


def allocate_names(pipeline: Pipeline) -> Names:
    """Derive all identifiers of the generated module for ``pipeline``.

    Parameters and variables become component arguments and KFP input/output names: each
    is acceptable to KFP (:func:`is_kfp_name`) and differs from every other under
    :func:`kfp_fold`, so ``_``, ``Δ``, ``X``/``x`` or ``a_b``/``a__b`` can all cross steps.
    """
    args = _Namespace(RESERVED, set(_FIXED_FOLDS))
    parameters: dict[str, str] = {}
    for param in pipeline.parameters:  # analysis order: the order of the parameters cell
        base = kfp_base(param.name, lower=True)
        if _is_state_name(base):  # the prefix names state inputs
            base = "param_" + base
        parameters[param.name] = args.unique(base)
    taken = set(RESERVED) | set(parameters.values())

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
        while kfp_task_name(fn) in kfp_tasks.values() or not kfp_task_name(fn):
            fn = _unique(f"{base}_{n}", module_taken)
            n += 1
        module_taken.add(fn)
        functions[step.name] = fn
        kfp_tasks[step.name] = kfp_task_name(fn)
    for step in pipeline.steps:
        task = _unique(functions[step.name] + "_task", module_taken)
        module_taken.add(task)
        tasks[step.name] = task

    # Component arguments: variables share a namespace with parameters and fixed names.
    # Sorting makes a variable's name independent of which step is generated first; names
    # that need no change are placed before mangled ones so they keep their spelling.
    all_vars = sorted({v for s in pipeline.steps for v in _step_variables(s)}, key=_plainness)
    variables: dict[str, str] = {}
    for var in all_vars:
        if ascii_identifier(var) == var and is_kfp_name(var):
            if args.free(var) and not _is_state_name(var):
                variables[var] = args.add(var)
    for var in all_vars:
        if var in variables:
            continue
        base = kfp_base(var)
        if _is_state_name(base):
            base = "var_" + base
        elif base in RESERVED and args.free(base + "_"):
            base += "_"  # `json` -> `json_` (else `json_2`, as `report` -> `report_2`)
        variables[var] = args.unique(base)
    # A step that changes a variable in place both loads and saves it: its input argument
    # then needs a name of its own (the output keeps the pipeline-wide name).
    inputs: dict[str, dict[str, str]] = {}
    for step in pipeline.steps:
        step_args = _Namespace(RESERVED, set(_FIXED_FOLDS))
        for name in [*parameters.values(), *(variables[v] for v in _step_variables(step))]:
            step_args.add(name)
        per_step: dict[str, str] = {}
        for var, _producer in step.inputs:
            name = variables[var]
            if var in step.outputs:
                name = step_args.unique(name + "_in")
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


def _plainness(name: str) -> tuple[bool, bool, str]:
    """Of names KFP would confuse, the plainest keeps its spelling: KFP's own form (lower
    case, no ``_`` at the ends) first, then one without ``__``; ties in string order."""
    sanitized = re.sub("[^_0-9a-z]+", "_", name.lower()).strip("_")  # sanitize_input_name
    return (name != sanitized, "__" in name, name)


def _is_state_name(name: str) -> bool:
    """Whether ``name`` could be taken for a state input (``state_from_STEP``)."""
    return kfp_fold(name).startswith(kfp_fold(STATE_PREFIX) + "-")


def _step_variables(step: Step) -> list[str]:
    return [var for var, _ in step.inputs] + list(step.outputs)
