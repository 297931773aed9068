"""codegen: IR -> DSL source (pure). Shapes checked on the AST, values round-tripped."""

from __future__ import annotations

import ast
import dataclasses
import keyword
import sys
from typing import Any

import pytest
from dsl_ast import inspect_dsl
from ir_builders import ALL_SETTINGS, all_settings, diamond, step_settings

from kale_like.codegen import default_base_image, generate_dsl, pipeline_kfp_name
from kale_like.codegen.literals import render_literal
from kale_like.codegen.names import allocate_names, function_name
from kale_like.errors import TagError
from kale_like.model import Parameter, Pipeline, Step, StepSettings
from kale_like.runtime.spec import step_spec


def test_one_component_per_step_with_the_step_spec() -> None:
    pipe = diamond()
    facts = inspect_dsl(generate_dsl(pipe))
    assert [c for c in facts.components] == ["source", "left", "right", "join"]
    for step in pipe.steps:
        comp = facts.components[step.name]
        assert comp.spec == step_spec(pipe, step)  # the literal round-trips exactly
        assert set(comp.inputs) == {v for v, _ in step.inputs}
        assert set(comp.outputs) == set(step.outputs)
        assert set(comp.parameters) == set(step.parameters)
        assert set(comp.state_inputs) == {k for k, _ in step.state_inputs}
        assert comp.logs_metrics == bool(step.metrics)
        assert comp.report is True
        assert comp.base_image == default_base_image()


def test_component_arguments_are_typed() -> None:
    facts = inspect_dsl(generate_dsl(diamond()))
    right = facts.components["right"]
    assert ("threshold", "str", ...) in right.args  # default None: JSON text
    assert ("options", "dict", ...) in right.args
    assert ("state_from_source", "Input[Artifact]", ...) in right.args
    assert ("kale_state", "Output[Artifact]", ...) in right.args
    assert right.state_inputs == {"random": "state_from_source"}
    left = facts.components["left"]
    assert ("mlpipeline_metrics", "Output[Metrics]", ...) in left.args
    assert ("values", "Input[Artifact]", ...) in left.args
    # UPPER_CASE parameters: KFP sees a lowercase name, the step keeps the user's.
    assert left.parameters == {"LEARNING_RATE": "learning_rate"}
    assert ("learning_rate", "float", ...) in left.args


def test_pipeline_signature_has_typed_defaults() -> None:
    pipe = diamond()
    facts = inspect_dsl(generate_dsl(pipe))
    assert facts.pipeline_params == [
        ("n", "int", 10),
        ("scale", "float", 2.5),
        ("label", "str", "demo"),
        ("verbose", "bool", False),
        ("sizes", "list", [1, 2, 3]),
        ("options", "dict", {"mode": "fast", "retries": 2}),
        ("threshold", "str", "null"),
        ("learning_rate", "float", 0.01),
    ]
    assert facts.pipeline_kwargs == {
        "name": "diamond-demo",
        "description": "Two parallel branches and a join",
    }


def test_tasks_wire_data_and_state_and_keep_display_names() -> None:
    facts = inspect_dsl(generate_dsl(diamond()))
    assert list(facts.tasks) == ["source_task", "left_task", "right_task", "join_task"]
    join = facts.task_for_display("join")
    assert join.kwargs["total"] == "left_task.outputs['total']"
    assert join.kwargs["draw"] == "right_task.outputs['draw']"
    assert join.kwargs["label"] == "label"
    right = facts.task_for_display("right")
    assert right.kwargs["state_from_source"] == "source_task.outputs['kale_state']"
    # Every edge carries data here, so there is no ordering-only .after().
    assert not [c for t in facts.tasks.values() for c in t.calls if c[0] == "after"]


def test_ordering_only_edges_use_after() -> None:
    facts = inspect_dsl(generate_dsl(all_settings()))
    task = facts.task_for_display("after_work")
    assert ("after", ("work_task",), {}) in task.calls
    assert task.kwargs == {}


def test_all_settings_become_task_calls() -> None:
    source = generate_dsl(all_settings())
    facts = inspect_dsl(source)
    calls = facts.task_for_display("work").calls
    expected = [
        ("set_display_name", ("work",), {}),
        ("set_cpu_limit", ("2",), {}),
        ("set_memory_limit", ("4Gi",), {}),
        ("set_cpu_request", ("1",), {}),
        ("set_memory_request", ("1Gi",), {}),
        ("set_accelerator_type", ("amd.com/gpu",), {}),
        ("set_accelerator_limit", ("2",), {}),
        ("set_env_variable", (), {"name": "MODE", "value": "train"}),
        ("set_env_variable", (), {"name": "EMPTY", "value": ""}),
        ("set_caching_options", (), {"enable_caching": False}),
        ("set_retry", (), {"num_retries": 3}),
        ("set_timeout", (), {"seconds": 600}),
        ("add_node_selector", (), {"label_key": "disktype", "label_value": "ssd"}),
        (
            "use_secret_as_env",
            (),
            {
                "secret_name": "db-creds",
                "secret_key_to_env": {"user": "DB_USER", "password": "DB_PASSWORD"},
            },
        ),
        ("mount_pvc", (), {"pvc_name": "data-pvc", "mount_path": "/mnt/data"}),
        ("add_pod_label", (), {"label_key": "team", "label_value": "ml"}),
        (
            "add_pod_annotation",
            (),
            {"annotation_key": "example.com/owner", "annotation_value": "data team"},
        ),
        (
            "add_toleration",
            (),
            {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        ),
        ("add_toleration", (), {"key": "spot", "operator": "Exists", "effect": "NoExecute"}),
    ]
    assert calls == expected
    comp = facts.components["work"]
    assert comp.base_image == ALL_SETTINGS.image
    assert comp.report is False and ("report", "Output[HTML]", ...) not in comp.args


def test_gpu_request_without_limit_sets_the_accelerator() -> None:
    settings = StepSettings(requests=(("nvidia.com/gpu", "1"),))
    pipe = Pipeline(name="g", steps=(Step("s", (0,), ("x = 1",), settings=settings),))
    calls = inspect_dsl(generate_dsl(pipe)).task_for_display("s").calls
    assert ("set_accelerator_type", ("nvidia.com/gpu",), {}) in calls
    assert ("set_accelerator_limit", ("1",), {}) in calls


def test_unsupported_resource_is_refused_not_dropped() -> None:
    settings = StepSettings(limits=(("ephemeral-storage", "1Gi"),))
    pipe = Pipeline(name="g", steps=(Step("s", (0,), ("x = 1",), settings=settings),))
    with pytest.raises(TagError) as err:
        generate_dsl(pipe)
    assert err.value.kind == "unsupported-resource"


def test_images_override_step_and_pipeline_images() -> None:
    pipe = dataclasses.replace(step_settings(), base_image="base:1")
    facts = inspect_dsl(generate_dsl(pipe))
    images = {name: c.base_image for name, c in facts.components.items()}
    assert images == {
        "prepare": "python:3.11-slim",
        "train": "registry.example.com/team/trainer:1.2.3",
        "publish": "base:1",
    }
    built = {"train": "localhost:5000/train@sha256:abc", "publish": "localhost:5000/publish:1"}
    facts = inspect_dsl(generate_dsl(pipe, built, base_image="other:2"))
    images = {name: c.base_image for name, c in facts.components.items()}
    assert images == {"prepare": "python:3.11-slim", **built}
    with pytest.raises(TagError):
        generate_dsl(pipe, {"nope": "x:1"})


def test_default_base_image_matches_running_python() -> None:
    assert default_base_image() == f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


def test_generation_is_deterministic_and_templated() -> None:
    first = generate_dsl(diamond())
    assert first == generate_dsl(diamond())
    assert first.startswith("# Kubeflow Pipelines v2 pipeline 'diamond-demo'")
    assert "diamond.ipynb" not in first  # only what the caller names appears in the header
    assert "'diamond.ipynb'" in generate_dsl(diamond(), notebook_name="diamond.ipynb")
    assert "\n\n\n@dsl.component(" in first and first.endswith(".yaml'))\n")
    assert "\t" not in first and " \n" not in first


def test_keyword_and_long_step_names_are_mangled_deterministically() -> None:
    long = "a_step_name_that_is_deliberately_much_longer_than_sixty_three_characters_total"
    assert function_name("class") == "class_"
    short = function_name(long)
    assert len(short) <= 48 and short.isidentifier() and short == function_name(long)
    assert function_name(long + "x") != short
    pipe = Pipeline(
        name="odd",
        steps=(
            Step("class", (0,), ("a = 1",), outputs=("a",)),
            Step(long, (1,), ("b = a",), after=("class",), inputs=(("a", "class"),)),
        ),
    )
    facts = inspect_dsl(generate_dsl(pipe))
    assert list(facts.components) == ["class_", short]
    assert facts.task_for_display(long).kwargs == {"a": "class__task.outputs['a']"}


def test_names_are_collision_free_and_never_shadow_the_template() -> None:
    params = tuple(
        Parameter(n, 1, "int")
        for n in ("LR", "lr", "pipeline", "report", "dsl", "Größe", "run", "state_from_run", "json")
    )
    steps = (
        Step("run", (0,), ("x = 1",), parameters=tuple(p.name for p in params),
             outputs=("report", "größe", "lr", "state_from_x", "kale_state")),
        Step("dsl", (1,), ("y = 1",), after=("run",),
             inputs=(("report", "run"), ("größe", "run"), ("lr", "run"))),
    )  # fmt: skip
    pipe = Pipeline(name="names", steps=steps, parameters=params)
    names = allocate_names(pipe)
    kfp_params = list(names.parameters.values())
    assert len(set(kfp_params)) == len(kfp_params)
    for name in kfp_params + list(names.variables.values()) + list(names.functions.values()):
        assert name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
    assert all(p == p.lower() for p in kfp_params)
    assert names.parameters["LR"] == "lr" and names.parameters["lr"] == "lr_2"
    taken = {"pipeline", "report", "dsl", "kale_state", "run_step"}
    assert not taken & set(kfp_params) and not taken & set(names.variables.values())
    assert not any(p.startswith("state_from_") for p in kfp_params) and "json" not in kfp_params
    assert not set(names.functions.values()) & (set(kfp_params) | taken)
    arg_names = kfp_params + list(names.variables.values())
    assert len(set(arg_names)) == len(arg_names)
    assert not any(v.startswith("state_from_") for v in names.variables.values())
    facts = inspect_dsl(generate_dsl(pipe))  # and the module has the template's shape
    comp = facts.components[names.functions["run"]]
    assert comp.parameters["Größe"] == names.parameters["Größe"]
    assert comp.outputs["größe"] == names.variables["größe"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("linear-demo", "linear-demo"), ("01_Linear Demo!", "01-linear-demo"), ("", "pipeline"),
     ("Größe", "gro-e"), ("'; import os", "import-os")],
)  # fmt: skip
def test_pipeline_kfp_name(name: str, expected: str) -> None:
    assert pipeline_kfp_name(name) == expected


def test_display_name_keeps_the_users_pipeline_name() -> None:
    pipe = diamond(name="My Pipeline: v2")
    facts = inspect_dsl(generate_dsl(pipe))
    assert facts.pipeline_kwargs["name"] == "my-pipeline-v2"
    assert facts.pipeline_kwargs["display_name"] == "My Pipeline: v2"


def test_literals_round_trip_and_stay_readable() -> None:
    value = {
        "source": 'import os\nprint(\'x\')\r\n"""doc"""\n',
        "nested": [1, -2.5, None, True, {"k": ["a" * 100]}],
        "ünï": "\u2028\x00\\",
    }
    text = render_literal(value, 1)
    assert ast.literal_eval(text) == value
    assert "'''import os\nprint(\\'x\\')\\r\n" in text  # sources print line by line
    with pytest.raises(ValueError):
        render_literal(float("nan"))
    with pytest.raises(ValueError):
        render_literal({1: "x"})


def test_invalid_step_names_in_the_ir_are_refused() -> None:
    pipe = Pipeline(name="x", steps=(Step("a;import os", (0,), ("x = 1",)),))
    with pytest.raises(TagError) as err:
        generate_dsl(pipe)
    assert err.value.kind == "invalid-step-name"


def test_a_variable_changed_in_place_has_distinct_input_and_output() -> None:
    pipe = Pipeline(
        name="mutation",
        steps=(
            Step("create", (0,), ("lst = []",), outputs=("lst", "lst_in")),
            Step("mutate", (1,), ("lst.append(lst_in)",), after=("create",),
                 inputs=(("lst", "create"), ("lst_in", "create")), outputs=("lst",)),
            Step("use", (2,), ("print(lst)",), after=("mutate",), inputs=(("lst", "mutate"),)),
        ),
    )  # fmt: skip
    facts = inspect_dsl(generate_dsl(pipe))
    mutate = facts.components["mutate"]
    assert mutate.inputs == {"lst": "lst_in_2", "lst_in": "lst_in"}
    assert mutate.outputs == {"lst": "lst"}
    task = facts.task_for_display("mutate")
    assert task.kwargs == {
        "lst_in_2": "create_task.outputs['lst']",
        "lst_in": "create_task.outputs['lst_in']",
    }
    assert facts.task_for_display("use").kwargs == {"lst": "mutate_task.outputs['lst']"}


def test_kfp_task_names_are_known_and_unique(tmp_path: Any) -> None:
    from kale_like.api.compilation import compile as compile_pipeline

    steps = ("class", "class_", "_private", "private", "a__b", "a_b")
    pipe = Pipeline(
        name="tasks", steps=tuple(Step(s, (i,), ("x = 1",)) for i, s in enumerate(steps))
    )
    names = allocate_names(pipe)
    assert len(set(names.kfp_tasks.values())) == len(steps)
    doc = compile_pipeline(pipe, tmp_path).yaml_path.read_text(encoding="utf-8")
    import yaml

    tasks = yaml.safe_load(doc)["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"]: name for name, t in tasks.items()} == {
        step: names.kfp_tasks[step] for step in steps
    }


def test_none_default_parameters_travel_as_json() -> None:
    from kale_like.codegen import kfp_arguments

    pipe = diamond()
    source = generate_dsl(pipe)
    assert "parameters={'threshold': json.loads(threshold), 'options': options}" in source
    assert kfp_arguments(pipe, {"threshold": 7, "LEARNING_RATE": 1, "n": 3}) == {
        "threshold": "7",
        "learning_rate": 1.0,
        "n": 3,
    }
    assert kfp_arguments(pipe, {"threshold": None}) == {"threshold": "null"}
