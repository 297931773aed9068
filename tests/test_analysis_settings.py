"""Config maps and security contexts from tags, ``steps_defaults`` and notebook metadata."""

from __future__ import annotations

import re
from typing import Any

import pytest
from nb_kit import notebook

from kale_like.api.analysis import load_pipeline
from kale_like.errors import InputError
from kale_like.model import Pipeline

SC = {"run_as_user": 1000, "run_as_group": 1000, "run_as_non_root": True}


def load(*cells: tuple[str, list[str]], **meta: Any) -> Pipeline:
    if meta:
        return load_pipeline(notebook(*cells, kubeflow=meta))
    return load_pipeline(notebook(*cells))


def test_config_maps_merge_per_env_and_defaults_apply_to_every_step() -> None:
    p = load(
        ("x = 1", ["step:a", "configmap:app-config:log.level:LOG_LEVEL"]),
        ("y = x", ["step:b", "configmap:other:log.level:LOG_LEVEL"]),
        steps_defaults=[
            "configmap:app-config:region:REGION",
            "configmap:app-config:log.level:LOG_LEVEL",
        ],
    )
    assert p.step("a").settings.config_maps == (
        ("app-config", "log.level", "LOG_LEVEL"),
        ("app-config", "region", "REGION"),
    )
    # The step's own tag wins over the default for the same variable.
    assert p.step("b").settings.config_maps == (
        ("other", "log.level", "LOG_LEVEL"),
        ("app-config", "region", "REGION"),
    )
    assert p.step("b").settings.to_json()["config_maps"] == [
        {"config_map": "other", "key": "log.level", "env": "LOG_LEVEL"},
        {"config_map": "app-config", "key": "region", "env": "REGION"},
    ]


def test_two_config_maps_for_one_variable_conflict() -> None:
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a", "configmap:one:k:VAR"]), ("y = 2", ["configmap:two:k:VAR"]))
    assert (info.value.kind, info.value.cell, info.value.tag) == (
        "conflicting-settings",
        1,
        "configmap:two:k:VAR",
    )


def test_notebook_security_context_is_the_default_and_tags_override_per_field() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        ("y = x", ["step:b", "security-context:run_as_user=2000"]),
        security_context=SC,
    )
    assert p.step("a").settings.to_json()["security_context"] == SC
    assert p.step("b").settings.security_context == (
        ("run_as_user", "2000"),
        ("run_as_group", "1000"),
        ("run_as_non_root", "true"),
    )
    assert p.step("b").settings.to_json()["security_context"] == {**SC, "run_as_user": 2000}


def test_steps_defaults_security_context_and_no_security_context() -> None:
    p = load(("x = 1", ["step:a"]), steps_defaults=["security-context:run_as_non_root=true"])
    assert p.step("a").settings.security_context == (("run_as_non_root", "true"),)
    plain = load(("x = 1", ["step:a"]), security_context={})
    assert plain.step("a").settings.security_context == ()
    assert "security_context" not in plain.step("a").settings.to_json()


def test_conflicting_security_context_fields() -> None:
    with pytest.raises(InputError) as info:
        load(
            ("x = 1", ["step:a", "security-context:run_as_user=1:run_as_non_root=true"]),
            ("y = 2", ["security-context:run_as_user=2"]),
        )
    assert (info.value.kind, info.value.cell) == ("conflicting-settings", 1)
    # The same value twice, or different fields, are fine.
    p = load(
        ("x = 1", ["step:a", "security-context:run_as_user=1"]),
        ("y = 2", ["security-context:run_as_user=1:run_as_group=3"]),
    )
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


def test_notebook_volume_entries_that_are_not_volumes_are_refused() -> None:
    # As an invalid volume: tag on a cell (exit 2), never dropped with a warning.
    assert load(("x = 1", ["step:a"]), volumes=["data:/mnt"]).step("a").settings.volumes == (
        ("data", "/mnt"),
    )
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a"]), volumes=["data:/mnt", 5])
    assert info.value.kind == "bad-metadata"
    assert "kubeflow_notebook.volumes[1] 5" in info.value.message


# --- enable_caching, timeout, Kale's steps_defaults object, volume fields -------------------


def test_enable_caching_is_every_steps_default_and_tags_win() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        ("y = x", ["step:b", "cache:enabled"]),
        ("z = y", ["step:c"]),
        enable_caching=False,
    )
    assert [s.settings.cache for s in p.steps] == [False, True, False]
    p = load(("x = 1", ["step:a"]), ("y = x", ["step:b", "cache:disabled"]), enable_caching=True)
    assert [s.settings.cache for s in p.steps] == [True, False]
    # steps_defaults is more specific than the pipeline's switch (Kale's precedence).
    p = load(("x = 1", ["step:a"]), enable_caching=False, steps_defaults=["cache:enabled"])
    assert p.step("a").settings.cache is True
    assert load(("x = 1", ["step:a"])).step("a").settings.cache is None


def test_pipeline_timeout_is_every_steps_default_timeout() -> None:
    p = load(("x = 1", ["step:a"]), ("y = x", ["step:b", "timeout:60"]), timeout=3600)
    assert [s.settings.timeout for s in p.steps] == [3600, 60]
    p = load(("x = 1", ["step:a"]), timeout=3600, steps_defaults=["timeout:120"])
    assert p.step("a").settings.timeout == 120


def test_kale_steps_defaults_object_shape() -> None:
    # The shape Kale's NotebookConfig stores after parsing the tags.
    p = load(
        ("x = 1", ["step:a", "label:team:own"]),
        steps_defaults={
            "labels": {"team": "ml", "tier": "gold"},
            "annotations": {"example.com/owner": "ds"},
            "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"},
            "secrets": {"DB_PASSWORD": {"secret_name": "db", "secret_key": "password"}},
            "base_image": "python:3.11-slim",
            "enable_caching": False,
            "generate_html_report": True,
            "retry_count": 2,
        },
    )
    s = p.step("a").settings
    assert dict(s.labels) == {"team": "own", "tier": "gold"}
    assert s.annotations == (("example.com/owner", "ds"),)
    assert dict(s.limits) == {"memory": "2Gi", "nvidia.com/gpu": "1"}
    assert s.secrets == (("db", "password", "DB_PASSWORD"),)
    assert (s.image, s.cache, s.report, s.retries) == ("python:3.11-slim", False, True, 2)


@pytest.mark.parametrize("value", [{"colour": "red"}, {"labels": ["a"]}, {"base_image": 3}])
def test_kale_steps_defaults_object_with_unknown_key_is_refused(value: Any) -> None:
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a"]), steps_defaults=value)
    assert info.value.kind == "bad-tag"
    assert "kubeflow_notebook.steps_defaults" in info.value.message
    assert info.value.fix and "labels" in info.value.fix


def test_volume_kinds_each_get_one_diagnostic() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        volumes=[
            {
                "name": "ws",
                "mount_point": "/home/jovyan",
                "type": "clone",
                "size": 5,
                "size_type": "Gi",
                "annotations": [],
                "snapshot": False,
            },
            {
                "name": "data",
                "mount_point": "/data",
                "type": "pvc",
                "snapshot": True,
                "snapshot_name": "snap-1",
                "size": 1,
                "annotations": [],
            },
            {"name": "scratch", "mount_point": "/scratch", "type": "new_pvc", "size": 1},
            {"name": "raw", "mount_point": "/raw", "type": "pv"},
        ],
    )
    assert p.step("a").settings.volumes == (("data", "/data"),)
    found = {
        re.search(r"kubeflow_notebook\.\S+", d.message).group(): (d.severity, d.kind)
        for d in p.diagnostics
        if "volume" in d.message
    }  # type: ignore[union-attr]
    assert found == {
        "kubeflow_notebook.volumes[0]": ("info", "unsupported-metadata"),  # the Rok clone
        "kubeflow_notebook.volumes[1].snapshot": ("info", "unsupported-metadata"),
        "kubeflow_notebook.volumes[1].snapshot_name": ("info", "unsupported-metadata"),
        "kubeflow_notebook.volumes[2]": ("warning", "unsupported-volume"),  # new_pvc
        "kubeflow_notebook.volumes[3]": ("warning", "unsupported-volume"),  # pv
    }
    assert len([d for d in p.diagnostics if "volume" in d.message]) == 5
    messages = " ".join(d.message for d in p.diagnostics)
    assert "Rok" in messages and "'new_pvc'" in messages


def test_expose_as_env_var_gives_every_step_kales_variable() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        ("y = x", ["step:b", "env:KALE_VOLUME_MY_DATA=/own"]),
        volumes=[
            {
                "name": "my-data",
                "mount_point": "/mnt/data",
                "type": "pvc",
                "expose_as_env_var": True,
            },
            {"name": "other", "mount_point": "/o", "type": "pvc", "expose_as_env_var": False},
        ],
    )
    assert p.step("a").settings.env == (("KALE_VOLUME_MY_DATA", "/mnt/data"),)
    assert p.step("b").settings.env == (("KALE_VOLUME_MY_DATA", "/own"),)


def test_exposed_volumes_whose_variables_collide_are_refused() -> None:
    with pytest.raises(InputError) as info:
        load(
            ("x = 1", ["step:a"]),
            volumes=[
                {"name": n, "mount_point": f"/{i}", "type": "pvc", "expose_as_env_var": True}
                for i, n in enumerate(["my-data", "my.data"])
            ],
        )
    assert info.value.kind == "bad-metadata"
    assert "KALE_VOLUME_MY_DATA" in info.value.message
