"""Every ``kubeflow_notebook`` field Kale writes: read, ignored with one info, or refused.

The metadata below has the shapes Kale 0.7 and 2.3 write (its JupyterLab panel and its
example notebooks): ``experiment`` objects, ``katib_metadata``, Rok ``clone`` volumes with
sizes and annotations, ``snapshot_volumes``, ``steps_defaults`` tags, ``enable_caching``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook
from nb_kit import notebook as tagged_notebook

from kale_like.api.analysis import load_pipeline
from kale_like.api.execution import run
from kale_like.cli import main
from kale_like.diagnostics import Diagnostic
from kale_like.errors import InputError
from kale_like.notebook import read_notebook
from kale_like.notebook_metadata import IGNORED, KNOWN, USED, check_metadata

KATIB = {
    "algorithm": {"algorithmName": "grid"},
    "maxFailedTrialCount": 3,
    "maxTrialCount": 12,
    "objective": {"objectiveMetricName": "accuracy", "type": "maximize", "goal": 1},
    "parallelTrialCount": 3,
    "parameters": [
        {
            "feasibleSpace": {"max": "6", "min": "2", "step": "1"},
            "name": "depth",
            "parameterType": "int",
        },
    ],
}
CLONE = {
    "annotations": [],
    "mount_point": "/home/jovyan",
    "name": "workspace-x1",
    "size": 5,
    "size_type": "Gi",
    "snapshot": False,
    "type": "clone",
}
# What Kale 2.3's panel writes for a notebook set up for Katib on a Rok cluster.
KALE_23 = {
    "base_image": "",
    "enable_caching": False,
    "experiment": {"id": "new", "name": "iris-experiment"},
    "experiment_name": "iris-experiment",
    "katib_metadata": KATIB,
    "katib_run": True,
    "pipeline_description": "Train a classifier",
    "pipeline_name": "iris-pipeline",
    "snapshot_volumes": True,
    "steps_defaults": ["label:access-ml-pipeline:true"],
    "volumes": [
        CLONE,
        {
            "expose_as_env_var": False,
            "mount_point": "/tmp",
            "name": "fine-tuning-pvc",
            "type": "pvc",
        },
    ],
}
# Kale 0.7's fields that 2.3 no longer writes.
KALE_07 = {
    "docker_image": "python:3.11-slim",
    "autosnapshot": True,
    "marshal_volume": True,
    "marshal_path": "/marshal",
    "abs_working_dir": "",
    "volume_access_mode": "rwo",
    "storage_class_name": "rok",
    "pipeline_name": "old",
    "experiment_name": "Default",
    "katib_run": False,
    "timeout": 3600,
}


def notebook(meta: Any, *cells: tuple[str, list[str]]) -> dict[str, Any]:
    default = (("x = 1", ["step:a"]), ("y = x + 1", ["step:b"]))
    return dict(tagged_notebook(*(cells or default), kubeflow=meta))


def kinds(diags: Any, severity: str | None = None) -> list[str]:
    return [d.kind for d in diags if severity is None or d.severity == severity]


def test_every_field_is_either_used_or_ignored_with_a_reason() -> None:
    assert not set(USED) & set(IGNORED)
    assert set(KALE_23) | set(KALE_07) <= set(KNOWN)
    assert all(reason for reason in IGNORED.values())


def test_kale_23_metadata_loads_with_one_info_per_ignored_field() -> None:
    p = load_pipeline(notebook(KALE_23))
    assert not kinds(p.diagnostics, "error")
    assert not kinds(p.diagnostics, "warning")
    infos = [d.message for d in p.diagnostics if d.kind == "unsupported-metadata"]
    assert len(infos) == 3
    assert [m.split(" = ")[0].split(" ")[-1] for m in infos[:2]] == [
        "kubeflow_notebook.katib_run",
        "kubeflow_notebook.snapshot_volumes",
    ]
    assert "volumes[0]" in infos[2] and "Rok" in infos[2]
    # What is read: name, experiment, caching, labels, the existing PVC.
    assert (p.name, p.experiment, p.description) == (
        "iris-pipeline",
        "iris-experiment",
        "Train a classifier",
    )
    assert p.base_image is None
    for step in p.steps:
        assert step.settings.cache is False
        assert step.settings.labels == (("access-ml-pipeline", "true"),)
        assert step.settings.volumes == (("fine-tuning-pvc", "/tmp"),)


def test_kale_07_metadata_loads() -> None:
    p = load_pipeline(notebook(KALE_07))
    assert p.base_image == "python:3.11-slim"
    ignored = sorted(
        d.message.split(" = ")[0].split(".")[-1]
        for d in p.diagnostics
        if d.kind == "unsupported-metadata"
    )
    # marshal_volume/marshal_path at Kale's defaults and the empty/false fields change nothing.
    assert ignored == ["autosnapshot", "storage_class_name", "volume_access_mode"]
    assert {s.settings.timeout for s in p.steps} == {3600}
    assert "pipeline-timeout" in kinds(p.diagnostics, "info")


def test_unknown_field_warns_with_did_you_mean_and_the_known_fields() -> None:
    (diag,) = check_metadata({"enable_cache": False})
    assert (diag.severity, diag.kind) == ("warning", "unknown-metadata")
    assert "kubeflow_notebook.enable_cache" in diag.message
    assert "'enable_caching'" in diag.message
    assert diag.fix and diag.fix.startswith("rename it to 'enable_caching'")
    assert "pipeline_name" in diag.fix
    (far,) = check_metadata({"zzzz": 1})
    assert far.fix and "pipeline_name" in far.fix and "did you mean" not in far.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("enable_caching", "false"),
        ("enable_caching", 0),
        ("timeout", "3600"),
        ("timeout", 0),
        ("timeout", -5),
        ("timeout", True),
        ("timeout", 1.5),
        ("pipeline_name", 7),
        ("base_image", ["python"]),
        ("docker_image", {"name": "x"}),
    ],
)
def test_wrong_typed_needed_field_is_refused_naming_it(field: str, value: Any) -> None:
    with pytest.raises(InputError) as info:
        load_pipeline(notebook({field: value}))
    assert info.value.kind == "bad-metadata"
    assert f"kubeflow_notebook.{field}" in info.value.message
    assert info.value.fix and field in info.value.fix


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("experiment_name", ["a"]),
        ("experiment", "exp"),
        ("katib_metadata", [1]),
        ("kfp_host", 8080),
        ("pipeline_description", 3),
    ],
)
def test_wrong_typed_optional_field_is_a_warning_and_dropped(field: str, value: Any) -> None:
    nb = read_notebook(notebook({field: value}))
    assert kinds(nb.diagnostics) == ["ignored-metadata"]
    assert f"kubeflow_notebook.{field}" in nb.diagnostics[0].message
    assert field not in nb.kale_metadata
    p = load_pipeline(notebook({field: value}))
    assert p.experiment is None and p.description == ""


def test_null_fields_are_unset() -> None:
    meta = {k: None for k in KNOWN}
    p = load_pipeline(notebook(meta))
    assert not [d for d in p.diagnostics if "metadata" in d.kind]
    assert all(s.settings.cache is None and s.settings.timeout is None for s in p.steps)


def test_cli_bad_metadata_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook({"enable_caching": "no"})), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "kubeflow_notebook.enable_caching" in err and "Traceback" not in err
    assert not out.exists()


def _counting_notebook(path: Path, counter: Path, meta: dict[str, Any]) -> Path:
    """Step ``a`` appends one character to ``counter`` each time it really executes."""
    import nbformat

    write_notebook(
        path,
        cell(f"with open({str(counter)!r}, 'a') as f:\n    f.write('x')\nn = 20", "step:a"),
        cell("m = n + 1", "step:b"),
        cell("print(m)", "pipeline-metrics"),
    )
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kubeflow_notebook"] = meta
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(("enabled", "second"), [(False, "succeeded"), (True, "cached")])
def test_local_run_honours_enable_caching(tmp_path: Path, enabled: bool, second: str) -> None:
    counter = tmp_path / "count.txt"
    nb = _counting_notebook(tmp_path / "nb.ipynb", counter, {"enable_caching": enabled})
    root = tmp_path / "runs"
    first = run(nb, run_root=root)
    again = run(nb, run_root=root)
    # Ground truth: a top-to-bottom run gives m = 21.
    assert first.metrics == again.metrics == {"m": 21}
    assert {s.status for s in first.steps.values()} == {"succeeded"}
    assert {s.status for s in again.steps.values()} == {second}
    assert counter.read_text() == ("xx" if second == "succeeded" else "x")


def test_diagnostics_are_plain_data() -> None:
    # The analyze JSON contract carries them like any other diagnostic.
    diags = check_metadata({"autosnapshot": True, "x": 1})
    assert all(isinstance(d, Diagnostic) and d.to_json()["kind"] for d in diags)
