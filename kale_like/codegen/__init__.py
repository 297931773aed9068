"""IR -> readable, standalone, deterministic KFP v2 DSL source. Pure: no I/O, no KFP import.

The generated module has one lightweight component per step (whose body hands the step's
spec to :func:`kale_like.runtime.run_step`), one pipeline function wiring them, and a
``__main__`` block that rewrites the IR YAML next to the file. It is produced from string
templates; every user-supplied value passes through ``repr`` (see :mod:`.literals`) and
every identifier through :mod:`.names`, so nothing in a notebook can inject code.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ..errors import TagError, UsageError
from ..model import Parameter, Pipeline, Step
from ..runtime.spec import step_spec
from ..tags import is_valid_image
from .literals import check_literal, render_literal
from .names import Names, allocate_names, pipeline_kfp_name
from .settings import settings_lines, uses_kubernetes
from .workspace import WorkspaceNames, workspace_names

__all__ = [
    "Names",
    "allocate_names",
    "default_base_image",
    "dsl_filename",
    "generate_dsl",
    "is_json_parameter",
    "kfp_arguments",
    "pipeline_kfp_name",
    "step_image",
]

PY_TYPES = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "list": "list",
    "dict": "dict",
}
STEP_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# A parameter whose default is None has no type to infer: KFP sees it as a string holding
# JSON ("null" by default) and the component decodes it, so any JSON value can be passed.
# (An Optional[...] = None input would do on a cluster, but kfp.local cannot run it.)
JSON_TYPE = "str"


def default_base_image(python: str | None = None) -> str:
    """``python:X.Y-slim`` for Python ``X.Y`` (default: the running interpreter's)."""
    return f"python:{python or f'{sys.version_info.major}.{sys.version_info.minor}'}-slim"


def dsl_filename(pipeline: Pipeline) -> str:
    """File stem of the generated files: the KFP pipeline name."""
    return pipeline_kfp_name(pipeline.name)


def step_image(
    pipeline: Pipeline,
    step: Step,
    images: dict[str, str] | None = None,
    base_image: str | None = None,
) -> str:
    """Image of a step: built image > ``image:`` tag > pipeline base image > default."""
    if images and step.name in images:
        return images[step.name]
    return step.settings.image or base_image or pipeline.base_image or default_base_image()


def generate_dsl(
    pipeline: Pipeline,
    images: dict[str, str] | None = None,
    *,
    base_image: str | None = None,
    notebook_name: str | None = None,
) -> str:
    """The DSL module source for ``pipeline``.

    ``images`` maps step names to image references that replace the step's base image;
    ``base_image`` overrides the pipeline's; ``notebook_name`` is named in the header.
    """
    if images:
        unknown = sorted(set(images) - set(pipeline.step_names))
        if unknown:
            raise TagError(
                f"images given for unknown steps: {', '.join(unknown)}",
                kind="unknown-step",
                fix=f"steps are: {', '.join(pipeline.step_names)}",
            )
    # The same rule as the image: tag: a reference a shell or Python string cannot misread.
    bad = {s: r for s, r in (images or {}).items() if not is_valid_image(r)}
    if base_image is not None and not is_valid_image(base_image):
        bad["base image"] = base_image
    if bad:
        raise UsageError(
            "not an image reference: "
            + ", ".join(f"{r!r} (for {s})" for s, r in sorted(bad.items(), key=str)),
            kind="bad-image",
            fix="an image is REGISTRY/PATH:TAG or PATH@sha256:DIGEST (letters, digits, ._/:@+-)",
        )
    for step in pipeline.steps:
        if not STEP_NAME.fullmatch(step.name):
            raise TagError(
                f"invalid step name {step.name!r}",
                kind="invalid-step-name",
                cell=step.cells[0] if step.cells else None,
                fix="step names are lowercase letters, digits and _, not starting with a digit",
            )
    names = allocate_names(pipeline)
    params = {p.name: p for p in pipeline.parameters}
    for p in pipeline.parameters:
        _check_parameter(p)
    needs_k8s = any(uses_kubernetes(s.settings) for s in pipeline.steps)
    needs_metrics = any(s.metrics for s in pipeline.steps)
    needs_report = any(s.settings.report is not False for s in pipeline.steps)
    needs_input = any(s.inputs or s.state_inputs or s.after for s in pipeline.steps)
    ws = workspace_names(pipeline, names)

    parts = [_header(pipeline, notebook_name)]
    parts.append(_imports(needs_k8s, needs_metrics, needs_report, needs_input))
    for step in pipeline.steps:
        image = step_image(pipeline, step, images, base_image)
        parts.append(_component(pipeline, step, names, params, image, ws))
    parts.append(_pipeline_function(pipeline, names, ws))
    parts.append(_main())
    return parts[0] + "\n\n" + "\n\n\n".join(parts[1:]) + "\n"


def _check_parameter(param: Parameter) -> None:
    if param.type != "none" and param.type not in PY_TYPES:
        raise TagError(
            f"parameter {param.name!r} has unsupported type {param.type!r}",
            kind="bad-parameters",
            cell=param.cell,
            line=param.line,
        )
    try:
        check_literal(param.default, f"parameter {param.name}")
    except ValueError as exc:
        raise TagError(str(exc), kind="bad-parameters", cell=param.cell, line=param.line) from exc


def _comment(text: str) -> str:
    """Text safe inside a ``#`` comment: ``ascii()`` escapes newlines and control characters."""
    quoted = ascii(str(text))
    return quoted[1:-1]


def _header(pipeline: Pipeline, notebook_name: str | None) -> str:
    stem = dsl_filename(pipeline)
    source = notebook_name or "NOTEBOOK.ipynb"
    return "\n".join(
        [
            f"# Kubeflow Pipelines v2 pipeline {_comment(pipeline.name)!r}, generated by kale-like",
            f"# from the notebook {_comment(source)!r}. Do not edit: change the notebook and run",
            f"#     kale-like compile {_comment(source)} -o OUTPUT_DIR",
            f"# `python {stem}.py` rewrites {stem}.yaml next to this file.",
            "#",
            "# One lightweight component per notebook step; each hands its cells to",
            "# kale_like.runtime.run_step, so kale_like must be installed in the step's image.",
        ]
    )


def _imports(k8s: bool, metrics: bool, report: bool, inputs: bool) -> str:
    lines = ["from pathlib import Path", ""]
    lines.append("from kfp import dsl" + (", kubernetes" if k8s else ""))
    io = ["Artifact", "Output"] + (["HTML"] if report else []) + (["Input"] if inputs else [])
    io += ["Metrics"] if metrics else []
    io.sort(key=lambda n: (not n.isupper(), n))  # isort's order: constants, then classes
    lines.append(f"from kfp.dsl import {', '.join(io)}")
    return "\n".join(lines)


def _holds_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_none(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_none(v) for v in value)
    return value is None


def is_json_parameter(param: Parameter) -> bool:
    """Whether KFP carries this parameter as JSON text (its default is or holds None).

    KFP's list/dict parameter values cannot hold None, so ``[1, None]`` travels as JSON.
    """
    return param.type == "none" or _holds_none(param.default)


def kfp_arguments(pipeline: Pipeline, values: dict[str, Any]) -> dict[str, Any]:
    """Pipeline arguments for KFP from values keyed by the user's parameter names.

    Renames to the KFP input names, JSON-encodes the parameters whose default is None and
    makes ints given for float parameters floats. Unknown names raise ``KeyError``.
    """
    names = allocate_names(pipeline)
    params = {p.name: p for p in pipeline.parameters}
    out: dict[str, Any] = {}
    for name, value in values.items():
        param = params[name]
        if is_json_parameter(param):
            value = json.dumps(value, ensure_ascii=False)
        elif _holds_none(value):
            raise UsageError(
                f"parameter {name!r}: KFP cannot carry None inside a {param.type} parameter "
                f"whose default ({param.default!r}) holds no None",
                kind="bad-parameters",
                cell=param.cell,
                fix="pass a value without None, or give the parameter a default holding "
                "None (then it travels as JSON)",
            )
        elif param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[names.parameters[name]] = value
    return out


def _param_annotation(param: Parameter) -> str:
    return JSON_TYPE if is_json_parameter(param) else PY_TYPES[param.type]


def _param_default(param: Parameter) -> object:
    if is_json_parameter(param):
        return json.dumps(param.default)
    if (
        param.type == "float"
        and isinstance(param.default, int)
        and not isinstance(param.default, bool)
    ):
        return float(param.default)
    return param.default


def _component(
    pipeline: Pipeline,
    step: Step,
    names: Names,
    params: dict[str, Parameter],
    image: str,
    ws: WorkspaceNames,
) -> str:
    fn = names.functions[step.name]
    required: list[str] = []
    for pname in step.parameters:
        required.append(f"{names.parameters[pname]}: {_param_annotation(params[pname])}")
    in_names = names.inputs[step.name]
    for var, _producer in step.inputs:
        required.append(f"{in_names[var]}: Input[Artifact]")
    producers = sorted(
        {producer for _kind, producer in step.state_inputs}, key=pipeline.step_names.index
    )
    for producer in producers:
        required.append(f"{names.state_input(producer)}: Input[Artifact]")
    for _ancestor, arg in ws.inputs[step.name]:
        required.append(f"{arg}: Input[Artifact]")
    for var in step.outputs:
        required.append(f"{names.variables[var]}: Output[Artifact]")
    required.append("kale_state: Output[Artifact]")
    required.append(f"{ws.outputs[step.name]}: Output[Artifact]")
    if step.metrics:
        required.append("mlpipeline_metrics: Output[Metrics]")
    report = step.settings.report is not False
    if report:
        required.append("report: Output[HTML]")
    args = required

    spec = render_literal(step_spec(pipeline, step), 2)
    inputs = _mapping({var: f"{in_names[var]}.path" for var, _ in step.inputs}, 2)
    state = _mapping(
        {kind: f"{names.state_input(producer)}.path" for kind, producer in step.state_inputs}, 2
    )
    outputs = _mapping({var: f"{names.variables[var]}.path" for var in step.outputs}, 2)
    ws_inputs = ", ".join(f"{arg}.path" for _a, arg in ws.inputs[step.name])
    decode = [p for p in step.parameters if is_json_parameter(params[p])]
    parameters = _mapping(
        {
            p: f"json.loads({names.parameters[p]})" if p in decode else names.parameters[p]
            for p in step.parameters
        },
        2,
    )
    lines = [
        f"@dsl.component(base_image={image!r}, install_kfp_package=False)",
        f"def {fn}(",
        *(f"    {a}," for a in args),
        "):",
        f'    """Step {_comment(step.name)!r}: notebook cells '
        f'{", ".join(str(c) for c in step.cells) or "none"}."""',
        *(["    import json", ""] if decode else []),
        "    from kale_like.runtime import run_step",
        "",
        f"    {'outcome = ' if step.metrics else ''}run_step(",
        f"        {spec},",
        f"        inputs={inputs},",
        f"        state_inputs={state},",
        f"        outputs={outputs},",
        "        state_output=kale_state.path,",
        f"        parameters={parameters},",
        f"        report_path={'report.path' if report else 'None'},",
        # Files the step's cells write travel to later steps (runtime/workspace.py).
        f"        workspace_inputs=[{ws_inputs}],",
        f"        workspace_output={ws.outputs[step.name]}.path,",
        "        isolate=True,",
        "    )",
    ]
    if step.metrics:
        lines += [
            "    for _name, _value in outcome.metrics.items():",
            "        if isinstance(_value, (int, float)) and not isinstance(_value, bool):",
            "            mlpipeline_metrics.log_metric(_name, _value)",
        ]
    return "\n".join(lines)


def _mapping(items: dict[str, str], indent: int) -> str:
    """A dict display whose keys are quoted user names and values are identifiers/paths."""
    if not items:
        return "{}"
    pairs = [f"{render_literal(k)}: {v}" for k, v in items.items()]
    one_line = "{" + ", ".join(pairs) + "}"
    if len(one_line) <= 60:
        return one_line
    pad = "    " * indent
    return "{\n" + "".join(f"{pad}    {p},\n" for p in pairs) + pad + "}"


def _pipeline_function(pipeline: Pipeline, names: Names, ws: WorkspaceNames) -> str:
    kfp_name = pipeline_kfp_name(pipeline.name)
    decorator = ["@dsl.pipeline(", f"    name={kfp_name!r},"]
    if kfp_name != pipeline.name:
        decorator.append(f"    display_name={render_literal(pipeline.name, 1, prefix_len=17)},")
    decorator.append(f"    description={render_literal(pipeline.description, 1, prefix_len=16)},")
    decorator.append(")")
    signature = ["def pipeline("]
    for param in pipeline.parameters:
        kfp = names.parameters[param.name]
        head = f"    {kfp}: {_param_annotation(param)} = "
        default = render_literal(_param_default(param), 1, prefix_len=len(head))
        signature.append(f"{head}{default},")
    signature.append("):")
    if not pipeline.parameters:
        signature = ["def pipeline():"]
    # No docstring: KFP would take it as the description when the notebook has none.
    body = [f"    # {len(pipeline.steps)} steps in topological order."]
    tasks = names.tasks
    for step in pipeline.steps:
        fn = names.functions[step.name]
        task = tasks[step.name]
        call_args = [f"{names.parameters[p]}={names.parameters[p]}" for p in step.parameters]
        for var, producer in step.inputs:
            out = names.variables[var]  # the producer's output artifact
            call_args.append(f"{names.inputs[step.name][var]}={tasks[producer]}.outputs[{out!r}]")
        data_producers = {producer for _v, producer in step.inputs}
        state_producers = sorted({p for _k, p in step.state_inputs}, key=pipeline.step_names.index)
        for producer in state_producers:
            call_args.append(
                f"{names.state_input(producer)}={tasks[producer]}.outputs['kale_state']"
            )
        data_producers.update(state_producers)
        for ancestor, arg in ws.inputs[step.name]:  # implies order; .after() kept for prev:
            out = ws.outputs[ancestor]
            call_args.append(f"{arg}={tasks[ancestor]}.outputs[{out!r}]")
        body.append("")
        if call_args:
            body.append(f"    {task} = {fn}(")
            body.extend(f"        {a}," for a in call_args)
            body.append("    )")
        else:
            body.append(f"    {task} = {fn}()")
        body.append(f"    {task}.set_display_name({render_literal(step.name)})")
        ordering = [p for p in step.after if p not in data_producers]
        if ordering:
            body.append(f"    {task}.after({', '.join(tasks[p] for p in ordering)})")
        body.extend(f"    {line}" for line in settings_lines(task, step.name, step.settings))
    return "\n".join(decorator + signature + body)


def _main() -> str:
    return "\n".join(
        [
            'if __name__ == "__main__":',
            "    # kale-like's own writer: the same YAML as `kale-like compile` (safe header)",
            "    from kale_like.kubeflow.compile import write_yaml",
            "",
            "    write_yaml(pipeline, Path(__file__).with_suffix('.yaml'))",
        ]
    )
