"""Names KFP refuses or confuses (``_``, ``Δ``, ``X``/``x``, template names) cross steps.

The generated DSL gives each such variable, parameter or step a mangled, KFP-acceptable,
unique and deterministic name; inside the step the user's code sees the user's name. The
end-to-end cases compare a pipeline run with a top-to-bottom run of the same cells.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Any

import pytest
from dsl_ast import inspect_dsl
from nb_kit import cell, write_notebook

from kale_like.codegen import generate_dsl, kfp_arguments
from kale_like.codegen.names import (
    RESERVED,
    allocate_names,
    function_name,
    is_kfp_name,
    kfp_fold,
    transliterate,
)
from kale_like.model import Parameter, Pipeline, Step

# KFP 2.17 refuses input/output names that do not match this (PipelineChannel).
KFP_CHANNEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\s_-]*\Z")

ODD_VARIABLES = (
    "_", "__", "_x", "__x__", "Δ", "δ", "größe", "中", "X", "x", "a_b", "a__b", "k", "k_",
    "run_step", "kale_state", "Kale_State", "report", "mlpipeline_metrics", "json", "dsl",
    "state_from_first", "State_From_First", "lr", "LR", "n", "Output", "output",
)  # fmt: skip

PARAMETERS = ("_", "α", "lr", "n", "Δ", "class", "state_from_x")


def odd_pipeline() -> Pipeline:
    params = tuple(Parameter(p, 1, "int") for p in PARAMETERS)
    return Pipeline(
        name="odd names",
        steps=(
            Step("first", (0,), ("pass",), parameters=("lr", "n"), outputs=ODD_VARIABLES),
            Step(
                "_",
                (1,),
                ("pass",),
                after=("first",),
                inputs=tuple((v, "first") for v in ODD_VARIABLES),
                outputs=("_", "x", "Δ"),  # changed in place: input and output names differ
            ),
            Step("__", (2,), ("pass",), after=("_",), inputs=(("_", "_"), ("x", "_"))),
        ),
        parameters=params,
    )


def test_every_name_is_kfp_acceptable_unique_and_deterministic() -> None:
    pipe = odd_pipeline()
    names = allocate_names(pipe)
    assert names == allocate_names(odd_pipeline())  # deterministic
    args = list(names.parameters.values()) + list(names.variables.values())
    fixed = {"kale_state", "mlpipeline_metrics", "report"}
    for name in args:
        assert KFP_CHANNEL_NAME.match(name) and name.isidentifier() and name.isascii(), name
        assert not keyword.iskeyword(name) and name not in RESERVED, name
        assert not kfp_fold(name).startswith("state-from-"), name
    # unique even as KFP lower-cases and sanitises them, and apart from the fixed outputs
    folds = [kfp_fold(n) for n in args] + sorted(kfp_fold(n) for n in fixed)
    assert len(set(folds)) == len(folds)
    for step in pipe.steps:
        own = [names.variables[v] for v in step.outputs] + list(names.inputs[step.name].values())
        own += [names.parameters[p] for p in step.parameters]
        assert len({kfp_fold(n) for n in own}) == len(own)
    # names that were fine keep their spelling; of two KFP would confuse, the plainer keeps it
    for plain in ("x", "a_b", "k", "output", "größe"):
        assert names.variables[plain] == (plain if plain != "größe" else "gro_e")
    assert names.variables["lr"] == "lr_2"  # the parameter keeps `lr`
    assert names.variables["X"] != "X" and names.variables["a__b"] != "a__b"
    assert names.parameters["Δ"] == "delta" and names.variables["Δ"] == "Delta_2"
    assert names.variables["Output"] == "Output_2" and names.variables["report"] == "report_2"
    assert names.variables["json"] == "json_" and names.parameters["α"] == "alpha"
    assert names.inputs["_"]["_"] != names.variables["_"]


def test_the_component_maps_mangled_arguments_to_the_users_names() -> None:
    pipe = odd_pipeline()
    names = allocate_names(pipe)
    facts = inspect_dsl(generate_dsl(pipe))
    first = facts.components[names.functions["first"]]
    assert first.outputs == {v: names.variables[v] for v in ODD_VARIABLES}
    middle = facts.components[names.functions["_"]]
    assert middle.inputs == names.inputs["_"] and set(middle.outputs) == {"_", "x", "Δ"}
    task = facts.task_for_display("__")
    wired = f"{names.tasks['_']}.outputs[{names.variables['_']!r}]"
    assert task.kwargs[names.inputs["__"]["_"]] == wired


def test_step_names_kfp_would_empty_get_a_readable_task_name() -> None:
    assert function_name("_") == "step_" and function_name("_1") == "step_1"
    assert function_name("_private") == "_private"  # KFP's task name "private" is fine
    names = allocate_names(odd_pipeline())
    assert names.kfp_tasks == {"first": "first", "_": "step", "__": "step-2"}


@pytest.mark.parametrize(
    ("name", "ascii_name"),
    [("Δ", "Delta"), ("δx", "delta_x"), ("größe", "grosse"), ("ΔΣ", "Delta_Sigma"),
     ("中", "u4e2d"), ("é_1", "e_1")],
)  # fmt: skip
def test_transliteration(name: str, ascii_name: str) -> None:
    assert transliterate(name) == ascii_name and transliterate(name).isascii()


def test_parameters_with_odd_names_are_passed_by_the_users_name() -> None:
    pipe = odd_pipeline()
    args = kfp_arguments(pipe, {"_": 5, "Δ": 6, "class": 7})
    names = allocate_names(pipe)
    assert args == {names.parameters["_"]: 5, "delta": 6, "class_": 7}
    assert all(is_kfp_name(k) for k in args)


# ------------------------------------------------------------------ end to end

PARAMS_CELL = "α = 0.5\nlr = 0.1\nn = 3\n_p = 2"
FIRST = """_ = 3
__ = 4
_x = 5
Δ = 1.5 * α
größe = 'big'
X = 10
x = 20
a_b = 'ab'
a__b = 'a__b'
run_step = 7
kale_state = 8
report = [1]
json = {'k': 1}
k_ = 1
k = 2
LR = lr * 10
n = n + 1
state_from_first = 'sf'
中 = '中文'
"""
SECOND = """total = _ + __ + _x + Δ + X + x + run_step + kale_state + len(report) + k_ + k + LR
total += n + json['k'] + _p
label = größe + a_b + a__b + state_from_first + 中
_ = _ * 2
report.append(x)
"""
THIRD = "result = total * 2\nfinal_ = [_, report, X, x]"
METRICS = "print(total)\nprint(Δ)"
# Values that cross steps (every engine reports them).
CROSSING = ("_", "__", "_x", "Δ", "größe", "X", "x", "a_b", "a__b", "中", "json", "report", "total")


def odd_notebook(path: Path) -> Path:
    return write_notebook(
        path,
        cell(PARAMS_CELL, "pipeline-parameters"),
        cell(FIRST, "step:first"),
        cell(SECOND, "step:_"),
        cell(THIRD, "step:__"),
        cell(METRICS, "pipeline-metrics"),
    )


def top_to_bottom() -> dict[str, Any]:
    """Ground truth: the notebook's cells in one namespace, in order."""
    ns: dict[str, Any] = {}
    for source in (PARAMS_CELL, FIRST, SECOND, THIRD):
        exec(source, ns)
    return ns


@pytest.mark.parametrize("engine", ["local", "kfp-local"])
def test_odd_names_run_like_top_to_bottom(engine: str, tmp_path: Path) -> None:
    from kale_like.api.compilation import compile as compile_pipeline
    from kale_like.api.execution import run

    nb = odd_notebook(tmp_path / "odd.ipynb")
    compiled = compile_pipeline(nb, tmp_path / "out")  # KFP's compiler accepts it
    assert compiled.yaml_path.is_file()
    truth = top_to_bottom()
    result = run(nb, engine=engine, run_root=tmp_path / "runs", keep_values=True)
    assert result.status == "succeeded", {
        n: (s.status, s.error, s.traceback) for n, s in result.steps.items() if s.error
    }
    assert result.metrics == {"total": truth["total"], "Δ": truth["Δ"]}
    # every value the run reports, under the user's names, equals the top-to-bottom one
    # (Parameters are left out: the local engine reports a parameter a step rebinds as the
    # last step that *received* it saw it, not its final value; `total` proves `n` crossed.)
    assert set(CROSSING) <= set(result.values)
    reported = {v: value for v, value in result.values.items() if v not in ("α", "lr", "n")}
    assert reported == {v: truth[v] for v in reported}
    if engine == "local":  # the local engine also keeps values no later step reads
        assert {"label", "result", "final_"} <= set(result.values)
    assert set(result.steps) == {"first", "_", "__"}


def test_odd_names_cli_compile_exit_0(tmp_path: Path) -> None:
    import subprocess
    import sys

    nb = odd_notebook(tmp_path / "odd.ipynb")
    proc = subprocess.run(
        [sys.executable, "-m", "kale_like", "compile", str(nb), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".py", ".yaml"]
