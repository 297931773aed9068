"""Strict reader of generated DSL modules: checks the template's shape, extracts the values.

Any statement, call or name the templates do not produce fails an assertion, so a value
that escaped its literal (an injected import, call or statement) cannot go unnoticed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

ALLOWED_IMPORTS = {
    ("pathlib", ("Path",)),
    ("typing", ("Optional",)),
    ("kfp", ("dsl",)),
    ("kfp", ("dsl", "kubernetes")),
}
IO_NAMES = {"Artifact", "HTML", "Input", "Metrics", "Output"}
TASK_METHODS = {
    "set_display_name", "after", "set_cpu_limit", "set_cpu_request", "set_memory_limit",
    "set_memory_request", "set_accelerator_type", "set_accelerator_limit", "set_env_variable",
    "set_caching_options", "set_retry",
}  # fmt: skip
K8S_FUNCTIONS = {
    "set_timeout", "add_node_selector", "use_secret_as_env", "mount_pvc", "add_pod_label",
    "add_pod_annotation", "add_toleration", "use_config_map_as_env", "set_security_context",
}  # fmt: skip
RUN_STEP_KEYWORDS = [
    "inputs",
    "state_inputs",
    "outputs",
    "state_output",
    "parameters",
    "report_path",
    "workspace_inputs",
    "workspace_output",
    "isolate",
]


@dataclass
class Component:
    name: str
    base_image: str
    args: list[tuple[str, str, Any]]  # (name, annotation source, default or ...)
    spec: dict[str, Any]
    inputs: dict[str, str]  # user variable -> argument name
    state_inputs: dict[str, str]
    outputs: dict[str, str]
    parameters: dict[str, str]  # user parameter -> argument name
    report: bool
    logs_metrics: bool
    workspace_inputs: list[str] = field(default_factory=list)  # argument names, in order
    workspace_output: str = ""


@dataclass
class Task:
    var: str
    function: str
    kwargs: dict[str, str]  # argument -> source of the value expression
    # workspace inputs (argument -> source), apart: every step takes all its ancestors'
    workspaces: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)


@dataclass
class DslFacts:
    components: dict[str, Component]
    pipeline_kwargs: dict[str, Any]
    pipeline_params: list[tuple[str, str, Any]]
    tasks: dict[str, Task]  # by task variable, in order

    def task_for_display(self, display: str) -> Task:
        for task in self.tasks.values():
            for method, args, _ in task.calls:
                if method == "set_display_name" and args == (display,):
                    return task
        raise KeyError(display)


def _lit(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _dict_of_names(node: ast.AST, attr: str | None) -> dict[str, str]:
    assert isinstance(node, ast.Dict), ast.dump(node)
    out = {}
    for key, value in zip(node.keys, node.values, strict=True):
        assert key is not None
        k = _lit(key)
        assert isinstance(k, str)
        if attr is None:
            assert isinstance(value, ast.Name), ast.dump(value)
            out[k] = value.id
        else:
            assert isinstance(value, ast.Attribute) and value.attr == attr, ast.dump(value)
            assert isinstance(value.value, ast.Name)
            out[k] = value.value.id
    return out


def _parameters(node: ast.AST, decodes: bool) -> dict[str, str]:
    """``{'NAME': kfp_name}``; with ``decodes``, values may be ``json.loads(kfp_name)``."""
    assert isinstance(node, ast.Dict), ast.dump(node)
    out = {}
    for key, value in zip(node.keys, node.values, strict=True):
        assert key is not None
        if isinstance(value, ast.Call):
            assert decodes and ast.unparse(value.func) == "json.loads" and not value.keywords
            (value,) = value.args
        assert isinstance(value, ast.Name), ast.dump(value)
        out[_lit(key)] = value.id
    return out


def _check_docstring(stmt: ast.stmt) -> None:
    assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
    assert isinstance(stmt.value.value, str)


def _annotation(node: ast.expr | None) -> str:
    assert node is not None
    text = ast.unparse(node)
    allowed = {"int", "float", "str", "bool", "list", "dict", "Optional[str]"}
    allowed |= {f"{io}[{t}]" for io in ("Input", "Output") for t in IO_NAMES - {"Input", "Output"}}
    assert text in allowed, text
    return text


def _component(fn: ast.FunctionDef) -> Component:
    assert len(fn.decorator_list) == 1
    deco = fn.decorator_list[0]
    assert isinstance(deco, ast.Call) and ast.unparse(deco.func) == "dsl.component"
    assert not deco.args
    kw = {k.arg: _lit(k.value) for k in deco.keywords}
    assert set(kw) == {"base_image", "install_kfp_package"} and kw["install_kfp_package"] is False
    a = fn.args
    assert not (a.posonlyargs or a.kwonlyargs or a.vararg or a.kwarg)
    defaults: list[Any] = [...] * (len(a.args) - len(a.defaults)) + [_lit(d) for d in a.defaults]
    assert all(d is ... or d is None for d in defaults)
    args = [
        (arg.arg, _annotation(arg.annotation), d) for arg, d in zip(a.args, defaults, strict=True)
    ]
    body = list(fn.body)
    _check_docstring(body.pop(0))
    imp = body.pop(0)
    decodes = ast.unparse(imp) == "import json"
    if decodes:  # parameters whose default is None arrive as JSON text
        imp = body.pop(0)
    assert ast.unparse(imp) == "from kale_like.runtime import run_step"
    stmt = body.pop(0)
    if isinstance(stmt, ast.Assign):  # the outcome is kept only to log metrics
        assert ast.unparse(stmt.targets[0]) == "outcome" and body
    else:
        assert isinstance(stmt, ast.Expr) and not body
    call = stmt.value
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "run_step"
    assert len(call.args) == 1
    spec = _lit(call.args[0])
    assert [k.arg for k in call.keywords] == RUN_STEP_KEYWORDS
    kws = {k.arg: k.value for k in call.keywords}
    assert ast.unparse(kws["state_output"]) == "kale_state.path"
    report_src = ast.unparse(kws["report_path"])
    ws_in = kws["workspace_inputs"]
    assert isinstance(ws_in, ast.List)
    ws_args = []
    for elt in ws_in.elts:
        assert isinstance(elt, ast.Attribute) and elt.attr == "path"
        assert isinstance(elt.value, ast.Name)
        ws_args.append(elt.value.id)
    ws_out = kws["workspace_output"]
    assert isinstance(ws_out, ast.Attribute) and ws_out.attr == "path"
    assert isinstance(ws_out.value, ast.Name)
    assert _lit(kws["isolate"]) is True
    assert report_src in ("report.path", "None")
    logs = False
    if body:
        loop = body.pop(0)
        assert ast.unparse(loop) == (
            "for _name, _value in outcome.metrics.items():\n"
            "    if isinstance(_value, (int, float)) and (not isinstance(_value, bool)):\n"
            "        mlpipeline_metrics.log_metric(_name, _value)"
        ), ast.unparse(loop)
        logs = True
    assert not body, [ast.unparse(s) for s in body]
    return Component(
        name=fn.name,
        base_image=kw["base_image"],
        args=args,
        spec=spec,
        inputs=_dict_of_names(kws["inputs"], "path"),
        state_inputs=_dict_of_names(kws["state_inputs"], "path"),
        outputs=_dict_of_names(kws["outputs"], "path"),
        parameters=_parameters(kws["parameters"], decodes),
        report=report_src == "report.path",
        logs_metrics=logs,
        workspace_inputs=ws_args,
        workspace_output=ws_out.value.id,
    )


def _pipeline(fn: ast.FunctionDef, components: dict[str, Component]) -> tuple[Any, ...]:
    assert fn.name == "pipeline" and len(fn.decorator_list) == 1
    deco = fn.decorator_list[0]
    assert isinstance(deco, ast.Call) and ast.unparse(deco.func) == "dsl.pipeline"
    kwargs = {k.arg: _lit(k.value) for k in deco.keywords}
    assert set(kwargs) <= {"name", "display_name", "description"} and not deco.args
    a = fn.args
    assert len(a.defaults) == len(a.args) and not (a.kwonlyargs or a.vararg or a.kwarg)
    params = [
        (arg.arg, _annotation(arg.annotation), _lit(d))
        for arg, d in zip(a.args, a.defaults, strict=True)
    ]
    body = list(fn.body)
    tasks: dict[str, Task] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            (target,) = stmt.targets
            assert isinstance(target, ast.Name) and target.id not in tasks
            call = stmt.value
            assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            assert call.func.id in components and not call.args
            kw = {}
            for k in call.keywords:
                src = ast.unparse(k.value)
                if isinstance(k.value, ast.Name):
                    assert k.value.id in {p[0] for p in params}, src
                else:  # producer_task.outputs['name']
                    v = k.value
                    assert isinstance(v, ast.Subscript) and isinstance(v.value, ast.Attribute)
                    assert v.value.attr == "outputs" and isinstance(v.value.value, ast.Name)
                    assert v.value.value.id in tasks and isinstance(_lit(v.slice), str), src
                kw[k.arg or ""] = src
            ws_args = components[call.func.id].workspace_inputs
            tasks[target.id] = Task(
                target.id,
                call.func.id,
                {k: v for k, v in kw.items() if k not in ws_args},
                workspaces={k: v for k, v in kw.items() if k in ws_args},
            )
            continue
        assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call), ast.unparse(stmt)
        call = stmt.value
        assert isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)
        owner, method = call.func.value.id, call.func.attr
        if owner == "kubernetes":
            assert method in K8S_FUNCTIONS, method
            first, *rest = call.args
            assert isinstance(first, ast.Name) and first.id in tasks
            tasks[first.id].calls.append(
                (
                    method,
                    tuple(_lit(x) for x in rest),
                    {k.arg: _lit(k.value) for k in call.keywords},
                )
            )
        else:
            assert owner in tasks and method in TASK_METHODS, ast.unparse(stmt)
            if method == "after":
                assert all(isinstance(x, ast.Name) and x.id in tasks for x in call.args)
                args: tuple[Any, ...] = tuple(x.id for x in call.args)  # type: ignore[attr-defined]
            else:
                args = tuple(_lit(x) for x in call.args)
            tasks[owner].calls.append((method, args, {k.arg: _lit(k.value) for k in call.keywords}))
    return kwargs, params, tasks


def inspect_dsl(source: str) -> DslFacts:
    """Parse ``source`` and check it has exactly the template's shape; return its values."""
    tree = ast.parse(source)
    body = list(tree.body)
    while body and isinstance(body[0], (ast.Import, ast.ImportFrom)):
        imp = body.pop(0)
        assert isinstance(imp, ast.ImportFrom), ast.unparse(imp)
        names = tuple(a.name for a in imp.names)
        assert all(a.asname is None for a in imp.names)
        if imp.module == "kfp.dsl":
            assert set(names) <= IO_NAMES
        else:
            assert (imp.module, names) in ALLOWED_IMPORTS, ast.unparse(imp)
    main = body.pop()
    assert ast.unparse(main) == (
        "if __name__ == '__main__':\n"
        "    from kale_like.kubeflow.compile import write_yaml\n"
        "    write_yaml(pipeline, Path(__file__).with_suffix('.yaml'))"
    ), ast.unparse(main)
    pipe = body.pop()
    components = {}
    for stmt in body:
        assert isinstance(stmt, ast.FunctionDef), ast.unparse(stmt)
        comp = _component(stmt)
        components[comp.name] = comp
    assert isinstance(pipe, ast.FunctionDef)
    kwargs, params, tasks = _pipeline(pipe, components)
    return DslFacts(components, kwargs, params, tasks)
