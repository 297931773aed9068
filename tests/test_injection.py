"""Nothing a user writes can inject code into the generated DSL (or YAML into the IR file).

Every generated module is read back by :func:`dsl_ast.inspect_dsl`, which fails on any
statement, import or call the templates do not produce; the values must round-trip exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from dsl_ast import inspect_dsl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_builders import diamond

from kale_like.api.compilation import compile as compile_pipeline
from kale_like.codegen import generate_dsl
from kale_like.errors import TagError
from kale_like.model import Parameter, Pipeline, Step, StepSettings
from kale_like.runtime.spec import step_spec

HOSTILE = [
    '\'"; import os; os.system("x") #',
    "'''); import os #",
    '"""); import os #',
    "\\",
    "\\'",
    "x\ny = 1",
    "x\r\nimport os\r",
    "\u2028import os\u2029",
    "$(rm -rf /) `id` ${HOME}",
    "{x} {{x}} %s %(x)s {% raw %}",
    "größe ünïcödé 漢字 \U0001f600 \u200d \u202e",
    "\x00\x07\x1b[31m",
    "# comment\nimport os",
]


def _type(value: Any) -> str:
    if value is None:
        return "none"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}[
        type(value)
    ]


def _one_step(settings: StepSettings | None = None, **pipe: Any) -> Pipeline:
    kwargs: dict[str, Any] = {
        "name": "p",
        "steps": (Step("s", (0,), ("x = 1",), settings=settings or StepSettings()),),
    }
    kwargs.update(pipe)
    return Pipeline(**kwargs)


def _calls(source: str, step: str = "s") -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    return inspect_dsl(source).task_for_display(step).calls


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameter_values_round_trip(value: str) -> None:
    pipe = diamond(
        parameters=(
            Parameter("label", value, "str"),
            Parameter("options", {value: [value, {"k": value}]}, "dict"),
        ),
        steps=(Step("s", (0,), (value,), parameters=("label", "options"), outputs=("x",)),),
    )
    facts = inspect_dsl(generate_dsl(pipe))
    assert facts.pipeline_params == [
        ("label", "str", value),
        ("options", "dict", {value: [value, {"k": value}]}),
    ]
    assert facts.components["s"].spec == step_spec(pipe, pipe.steps[0])


@pytest.mark.parametrize(
    "name",
    ["__import__", "os", "pipeline", "dsl", "kale_state", "run_step", "Input", "Größe", "ℌ", "_",
     "x'); import os; ('", "a b", "1x", "class", "None", "True"],
)  # fmt: skip
def test_hostile_parameter_and_variable_names(name: str) -> None:
    pipe = Pipeline(
        name="p",
        parameters=(Parameter(name, 1, "int"), Parameter("other", 2, "int")),
        steps=(
            Step("a", (0,), ("x = 1",), parameters=(name, "other"), outputs=(name, "y")),
            Step("b", (1,), ("x",), after=("a",), inputs=((name, "a"), ("y", "a"))),
        ),
    )
    facts = inspect_dsl(generate_dsl(pipe))
    a, b = facts.components["a"], facts.components["b"]
    assert set(a.parameters) == {name, "other"} and set(a.outputs) == {name, "y"}
    assert set(b.inputs) == {name, "y"}
    arg_names = [arg for arg, _, _ in a.args]
    assert len(arg_names) == len(set(arg_names))
    assert all(arg.isascii() and arg.isidentifier() for arg in arg_names)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_tag_values_round_trip(value: str) -> None:
    settings = StepSettings(
        image=value,
        env=(("E", value),),
        labels=(("l", value),),
        annotations=(("a", value),),
        node_selector=(("n", value),),
        secrets=((value, value, "ENV"),),
        volumes=((value, value),),
    )
    source = generate_dsl(_one_step(settings))
    facts = inspect_dsl(source)
    assert facts.components["s"].base_image == value
    calls = facts.task_for_display("s").calls
    assert ("set_env_variable", (), {"name": "E", "value": value}) in calls
    assert ("add_pod_label", (), {"label_key": "l", "label_value": value}) in calls
    assert ("add_pod_annotation", (), {"annotation_key": "a", "annotation_value": value}) in calls
    assert ("add_node_selector", (), {"label_key": "n", "label_value": value}) in calls
    secret = {"secret_name": value, "secret_key_to_env": {value: "ENV"}}
    assert ("use_secret_as_env", (), secret) in calls
    assert ("mount_pvc", (), {"pvc_name": value, "mount_path": value}) in calls


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_notebook_metadata(value: str) -> None:
    pipe = _one_step(name=value, description=value, experiment=value)
    source = generate_dsl(pipe, notebook_name=value + ".ipynb")
    facts = inspect_dsl(source)
    assert facts.pipeline_kwargs["description"] == value
    assert facts.pipeline_kwargs.get("display_name", facts.pipeline_kwargs["name"]) == value
    # The header comment holds the names on single lines.
    header = source.split("\n\n", 1)[0]
    assert all(line.startswith("#") for line in header.split("\n"))


@pytest.mark.parametrize("name", ["a;import os", "Load-Data", "1abc", "a\nb", "a b", "ä", ""])
def test_hostile_step_names_are_refused(name: str) -> None:
    from kale_like.tags import parse_tag

    if name:  # an empty step: tag is Kale's "continue the block above", not a name
        with pytest.raises(TagError):
            parse_tag(f"step:{name}")
    else:
        assert parse_tag("step:").continues
    with pytest.raises(TagError):
        generate_dsl(Pipeline(name="p", steps=(Step(name, (0,), ("x = 1",)),)))


def test_hostile_values_survive_kfp_compile(tmp_path: Path) -> None:
    """The YAML keeps each value exactly and gains no keys (KFP's header is hardened)."""
    value = "v'\"\nfoo: injected\r\nbar: 1\u2028baz: 2 $(id) `id`"
    pipe = _one_step(
        StepSettings(env=(("E", value),), annotations=(("a", value),)),
        name=value,
        description=value,
        parameters=(Parameter("p", value, "str"),),
    )
    pipe = dataclasses.replace(pipe, steps=(dataclasses.replace(pipe.steps[0], parameters=("p",)),))
    result = compile_pipeline(pipe, tmp_path / "out")
    with open(result.yaml_path, encoding="utf-8", newline="") as f:
        text = f.read()
    docs = list(yaml.safe_load_all(text))
    spec, platform = docs
    assert set(spec) == {"components", "deploymentSpec", "pipelineInfo", "root", "schemaVersion",
                         "sdkVersion"}  # fmt: skip
    assert set(platform) == {"platforms"}
    assert spec["root"]["inputDefinitions"]["parameters"]["p"]["defaultValue"] == value
    assert spec["pipelineInfo"]["displayName"] == value
    assert spec["pipelineInfo"]["description"] == value
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["env"] == [{"name": "E", "value": value}]
    (k8s,) = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()
    assert k8s["podMetadata"]["annotations"] == {"a": value}


# ---------------------------------------------------------------- property-based tests

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _holds_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_none(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_none(v) for v in value)
    return value is None


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_parameter_literals_round_trip(value: Any) -> None:
    pipe = _one_step(parameters=(Parameter("p", value, _type(value)),))
    pipe = dataclasses.replace(pipe, steps=(dataclasses.replace(pipe.steps[0], parameters=("p",)),))
    facts = inspect_dsl(generate_dsl(pipe))
    ((name, _annotation, default),) = facts.pipeline_params
    assert name == "p"
    if _holds_none(value):  # KFP values cannot hold None: such defaults travel as JSON text
        assert isinstance(default, str) and json.loads(default) == value
    else:
        assert default == value and type(default) is type(value)
    assert facts.components["s"].spec["parameters"] == ["p"]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.text(min_size=1), min_size=7, max_size=7),
    source=st.text(),
    metadata=st.text(),
)
def test_tag_values_and_sources_round_trip(values: list[str], source: str, metadata: str) -> None:
    image, env, label, annotation, selector, secret, mount = values
    settings_ = StepSettings(
        image=image,
        env=(("E", env),),
        labels=(("l", label),),
        annotations=(("a", annotation),),
        node_selector=(("n", selector),),
        secrets=((secret, secret, "ENV"),),
        volumes=(("pvc", mount),),
    )
    pipe = Pipeline(
        name=metadata,
        description=metadata,
        steps=(Step("s", (0,), (source,), settings=settings_),),
    )
    facts = inspect_dsl(generate_dsl(pipe, notebook_name=metadata))
    comp = facts.components["s"]
    assert comp.base_image == image
    assert comp.spec["cells"] == [{"index": 0, "source": source}]
    assert facts.pipeline_kwargs["description"] == metadata
    calls = facts.task_for_display("s").calls
    assert ("set_env_variable", (), {"name": "E", "value": env}) in calls
    assert ("add_pod_label", (), {"label_key": "l", "label_value": label}) in calls
    assert (
        "add_pod_annotation",
        (),
        {"annotation_key": "a", "annotation_value": annotation},
    ) in calls
    assert ("add_node_selector", (), {"label_key": "n", "label_value": selector}) in calls
    assert (
        "use_secret_as_env",
        (),
        {"secret_name": secret, "secret_key_to_env": {secret: "ENV"}},
    ) in calls
    assert ("mount_pvc", (), {"pvc_name": "pvc", "mount_path": mount}) in calls


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(min_size=1), description=st.text())
def test_compiled_yaml_keeps_values(tmp_path: Path, value: str, description: str) -> None:
    pipe = _one_step(
        StepSettings(env=(("E", value),)),
        description=description,
        parameters=(Parameter("p", value, "str"),),
    )
    pipe = dataclasses.replace(pipe, steps=(dataclasses.replace(pipe.steps[0], parameters=("p",)),))
    out = tmp_path / f"out{abs(hash((value, description)))}"
    result = compile_pipeline(pipe, out)
    with open(result.yaml_path, encoding="utf-8", newline="") as f:
        (spec,) = yaml.safe_load_all(f.read())
    assert spec["root"]["inputDefinitions"]["parameters"]["p"]["defaultValue"] == value
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["env"] == [{"name": "E", "value": value}]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=())))
def test_any_text_literal_round_trips(text: str) -> None:
    """Lone surrogates, control and separator characters included."""
    import ast

    from kale_like.codegen.literals import render_literal, triple_quoted

    for literal in (render_literal(text), triple_quoted(text), render_literal({"s": [text]}, 3)):
        tree = ast.parse(literal, mode="eval")  # one expression, nothing else
        assert isinstance(tree.body, (ast.Constant, ast.Dict))
        assert ast.literal_eval(literal) == (text if literal[0] != "{" else {"s": [text]})


# ------------------------------------------------- config maps and security contexts


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_config_map_values_round_trip(value: str) -> None:
    settings_ = StepSettings(config_maps=((value, value, "ENV"), ("cm", "k", value)))
    calls = _calls(generate_dsl(_one_step(settings_)))

    def call(name: str, mapping: dict[str, str]) -> tuple[str, tuple[()], dict[str, Any]]:
        kw = {"config_map_name": name, "config_map_key_to_env": mapping}
        return ("use_config_map_as_env", (), kw)

    assert call(value, {value: "ENV"}) in calls
    assert call("cm", {"k": value}) in calls


@pytest.mark.parametrize(
    "pair",
    [(v, "1") for v in HOSTILE]
    + [("run_as_user", v) for v in HOSTILE]
    + [("run_as_non_root", "True"), ("run_as_non_root", "1"), ("run_as_user", "-1"),
       ("run_as_user", "1e3"), ("run_as_user", "\u0661"), ("privileged", "true")],
)  # fmt: skip
def test_hostile_security_context_is_refused(pair: tuple[str, str]) -> None:
    """Only known fields with whole numbers / true|false become arguments; nothing is quoted in."""
    with pytest.raises(TagError):
        generate_dsl(_one_step(StepSettings(security_context=(pair,))))


def test_security_context_arguments_are_typed() -> None:
    sc = (("run_as_user", "1000"), ("run_as_group", "0"), ("run_as_non_root", "false"))
    calls = _calls(generate_dsl(_one_step(StepSettings(security_context=sc))))
    kw = {"run_as_user": 1000, "run_as_group": 0, "run_as_non_root": False}
    assert ("set_security_context", (), kw) in calls


def test_one_key_into_two_variables_keeps_both() -> None:
    refs = (("cm", "k", "A"), ("cm", "k", "B"), ("cm", "j", "C"))
    calls = _calls(generate_dsl(_one_step(StepSettings(config_maps=refs, secrets=refs))))
    for fn, name, mapping in (
        ("use_config_map_as_env", "config_map_name", "config_map_key_to_env"),
        ("use_secret_as_env", "secret_name", "secret_key_to_env"),
    ):
        got = [kw[mapping] for f, _, kw in calls if f == fn and kw[name] == "cm"]
        assert sorted((k, e) for m in got for k, e in m.items()) == [
            ("j", "C"),
            ("k", "A"),
            ("k", "B"),
        ]
