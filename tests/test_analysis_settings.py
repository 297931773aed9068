"""Config maps and security contexts from tags, ``steps_defaults`` and notebook metadata."""

from __future__ import annotations

from typing import Any

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kale_like.api.analyze import load_pipeline
from kale_like.errors import InputError
from kale_like.model import Pipeline

SC = {"run_as_user": 1000, "run_as_group": 1000, "run_as_non_root": True}


def load(*cells: tuple[str, list[str]], **meta: Any) -> Pipeline:
    built = [new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    metadata: dict[str, Any] = {
        "kernelspec": {"name": "python3", "language": "python", "display_name": "P"}
    }
    if meta:
        metadata["kubeflow_notebook"] = meta
    return load_pipeline(new_notebook(cells=built, metadata=metadata))


def test_config_maps_merge_per_env_and_defaults_apply_to_every_step() -> None:
    p = load(
        ("x = 1", ["step:a", "configmap:app-config:log.level:LOG_LEVEL"]),
        ("y = x", ["step:b", "configmap:other:log.level:LOG_LEVEL"]),
        steps_defaults=["configmap:app-config:region:REGION",
                        "configmap:app-config:log.level:LOG_LEVEL"],
    )
    assert p.step("a").settings.config_maps == (
        ("app-config", "log.level", "LOG_LEVEL"), ("app-config", "region", "REGION"))
    # The step's own tag wins over the default for the same variable.
    assert p.step("b").settings.config_maps == (
        ("other", "log.level", "LOG_LEVEL"), ("app-config", "region", "REGION"))
    assert p.step("b").settings.to_json()["config_maps"] == [
        {"config_map": "other", "key": "log.level", "env": "LOG_LEVEL"},
        {"config_map": "app-config", "key": "region", "env": "REGION"},
    ]


def test_two_config_maps_for_one_variable_conflict() -> None:
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a", "configmap:one:k:VAR"]), ("y = 2", ["configmap:two:k:VAR"]))
    assert (info.value.kind, info.value.cell, info.value.tag) == (
        "conflicting-settings", 1, "configmap:two:k:VAR")


def test_notebook_security_context_is_the_default_and_tags_override_per_field() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        ("y = x", ["step:b", "security-context:run_as_user=2000"]),
        security_context=SC,
    )
    assert p.step("a").settings.to_json()["security_context"] == SC
    assert p.step("b").settings.security_context == (
        ("run_as_user", "2000"), ("run_as_group", "1000"), ("run_as_non_root", "true"))
    assert p.step("b").settings.to_json()["security_context"] == {**SC, "run_as_user": 2000}


def test_steps_defaults_security_context_and_no_security_context() -> None:
    p = load(("x = 1", ["step:a"]), steps_defaults=["security-context:run_as_non_root=true"])
    assert p.step("a").settings.security_context == (("run_as_non_root", "true"),)
    plain = load(("x = 1", ["step:a"]), security_context={})
    assert plain.step("a").settings.security_context == ()
    assert "security_context" not in plain.step("a").settings.to_json()


def test_conflicting_security_context_fields() -> None:
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a", "security-context:run_as_user=1:run_as_non_root=true"]),
             ("y = 2", ["security-context:run_as_user=2"]))
    assert (info.value.kind, info.value.cell) == ("conflicting-settings", 1)
    # The same value twice, or different fields, are fine.
    p = load(("x = 1", ["step:a", "security-context:run_as_user=1"]),
             ("y = 2", ["security-context:run_as_user=1:run_as_group=3"]))
    assert p.step("a").settings.security_context == (("run_as_user", "1"), ("run_as_group", "3"))


@pytest.mark.parametrize(
    "value",
    [{"privileged": True}, {"run_as_user": -1}, {"run_as_user": True}, {"run_as_user": 1.5},
     {"run_as_non_root": "yes"}, {"run_as_user": "1; import os"}, [1000], "run_as_user=1"],
)  # fmt: skip
def test_bad_notebook_security_context_is_refused(value: Any) -> None:
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a"]), security_context=value)
    assert info.value.kind == "bad-tag"
    assert "kubeflow_notebook.security_context" in info.value.message


@pytest.mark.parametrize("value", ["limit:cpu:1", 5])
def test_steps_defaults_that_is_not_a_list_is_refused(value: Any) -> None:
    # A string would otherwise be dropped silently and the steps run without the limit.
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a"]), steps_defaults=value)
    assert info.value.kind == "bad-tag"
    assert "kubeflow_notebook.steps_defaults must be a list" in info.value.message


def test_notebook_volume_entries_that_are_not_volumes_are_warned_about() -> None:
    p = load(("x = 1", ["step:a"]), volumes=[5, "data:/mnt"])
    assert p.step("a").settings.volumes == (("data", "/mnt"),)
    warned = [d for d in p.diagnostics if d.kind == "unsupported-volume"]
    assert len(warned) == 1 and "5" in warned[0].message
