"""Hostile probes, consistency (issue 12, item 17): a step split around another step whose
parts need that step's values, invalid notebook-level settings and volumes, pip options in
the notebook's requirements: refused at analysis (exit 2), as the same input elsewhere is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _kit import cli, top_to_bottom
from nb_kit import cell, write_notebook


def _split(path: Path, *b_tags: str, second: str = "step:a") -> Path:
    """Step a writes x; step b reads x and writes y; a's second cell reads y."""
    return write_notebook(
        path,
        cell("x = 1", "step:a"),
        cell("y = x + 1", "step:b", *b_tags),
        cell("z = y * 10", second),
        cell("print(z)", "pipeline-metrics"),
    )


# -- 17a. a step split around a step it needs is refused --------------------------------
@pytest.mark.parametrize("b_tags", [(), ("prev:a",)])
def test_split_step_with_a_data_cycle_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], b_tags: tuple[str, ...]
) -> None:
    nb = _split(tmp_path / "nb.ipynb", *b_tags)
    code, out, err = cli(capsys, "analyze", nb)
    assert code == 2, out + err
    assert "Traceback" not in err
    # Both cells of the step (numbered as Jupyter shows them), the variables, the fix.
    assert "cell 1" in err and "cell 3" in err and "step 'a'" in err and "'b'" in err
    assert "'y'" in err and "'x'" in err and "cycle" in err
    assert "fix: give the later part its own step: tag cell 3 step:a_2" in err
    code, out, err = cli(capsys, "analyze", nb, "--format", "json")
    assert code == 2
    assert "step:a_2" in err


def test_split_step_that_cannot_see_the_step_between_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No cycle, but step a (first cell above b) can never receive b's y.
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("x = 1", "step:a"),
        cell("y = 2", "step:b"),
        cell("z = x + y", "step:a"),
    )
    code, _, err = cli(capsys, "analyze", nb)
    assert code == 2 and "'y'" in err and "step:a_2" in err and "Traceback" not in err


def test_every_split_step_is_named_at_once(tmp_path: Path) -> None:
    from kale_like.api.analysis import load_pipeline
    from kale_like.errors import AnalysisError

    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("x = 1", "step:a"),
        cell("y = x + 1", "step:b"),
        cell("z = y * 10", "step:a"),
        cell("u = z", "step:c"),
        cell("w = [u]", "step:d"),
        cell("print(w)", "step:c"),
    )
    with pytest.raises(AnalysisError) as info:
        load_pipeline(nb)
    assert (info.value.kind, info.value.cell) == ("cycle", 2)
    fixes = [d.fix for d in info.value.diagnostics]
    assert fixes == [
        "give the later part its own step: tag cell 3 step:a_2 instead of step:a",
        "give the later part its own step: tag cell 6 step:c_2 instead of step:c",
    ]


def test_the_suggested_fix_runs_like_the_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _split(tmp_path / "nb.ipynb", second="step:a_2")
    code, out, err = cli(capsys, "run", nb, "--json", "--run-root", tmp_path / "root")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "succeeded"
    assert data["metrics"] == top_to_bottom(nb, ["z"]) == {"z": 20}


def test_a_split_step_that_needs_nothing_between_stays_one_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Kale's rule: the same step name on two cells merges them; harmless here.
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("x = 1", "step:a"),
        cell("y = x + 1", "step:b"),
        cell("w = x * 3", "step:a"),
        cell("print(w)\nprint(y)", "pipeline-metrics"),
    )
    code, out, err = cli(capsys, "analyze", nb, "--format", "json")
    assert code == 0, err
    steps = {s["name"]: s["cells"] for s in json.loads(out)["steps"]}
    assert steps == {"a": [0, 2], "b": [1]}


# -- 17b. notebook-level settings and volumes are checked as a cell's tags are ----------
def _with_meta(path: Path, **meta: object) -> Path:
    """A two-step notebook with ``metadata.kubeflow_notebook = meta``."""
    write_notebook(path, cell("x = 1", "step:a"), cell("y = x", "step:b"))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metadata"]["kubeflow_notebook"] = meta
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("tag", ["prev:a", "skip", "step:c", "imports"])
def test_a_non_setting_tag_in_steps_defaults_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    nb = _with_meta(tmp_path / "nb.ipynb", steps_defaults=["limit:memory:1Gi", tag])
    code, out, err = cli(capsys, "analyze", nb)
    assert code == 2, out + err
    assert "kubeflow_notebook.steps_defaults" in err and repr(tag) in err
    assert "fix: remove" in err and "Traceback" not in err


def test_an_invalid_tag_in_steps_defaults_is_refused_as_on_a_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "limit:memory:lots"
    on_cell = write_notebook(tmp_path / "cell.ipynb", cell("x = 1", "step:a", bad))
    code, _, cell_err = cli(capsys, "analyze", on_cell)
    assert code == 2
    nb = _with_meta(tmp_path / "nb.ipynb", steps_defaults=[bad])
    code, _, err = cli(capsys, "analyze", nb)
    assert code == 2 and "kubeflow_notebook.steps_defaults" in err and repr(bad) in err
    fix = next(line for line in cell_err.splitlines() if "fix:" in line)
    assert fix in err.splitlines()  # the tag parser's fix, as on the cell


@pytest.mark.parametrize(
    "entry, why",
    [
        ({"type": "pvc", "mount_point": "/data"}, "no PVC name"),
        ({"type": "pvc", "name": "data"}, "no mount point"),
        ({"type": "pvc", "name": "data", "mount_point": "data"}, "absolute path"),
        ({"type": "pvc", "name": "Bad Name", "mount_point": "/data"}, "PVC name"),
        ({"type": "nfs", "name": "data", "mount_point": "/data"}, "'nfs'"),
        ("data", "PVC:MOUNT_PATH"),
        (5, "not a volume"),
    ],
)
def test_a_malformed_volume_entry_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: object, why: str
) -> None:
    good = {"type": "pvc", "name": "ok", "mount_point": "/ok"}
    nb = _with_meta(tmp_path / "nb.ipynb", volumes=[good, entry])
    code, out, err = cli(capsys, "analyze", nb)
    assert code == 2, out + err
    assert "kubeflow_notebook.volumes[1]" in err and why in err
    assert "fix:" in err and "Traceback" not in err
    out_dir = tmp_path / "out"
    assert cli(capsys, "compile", nb, "-o", out_dir)[0] == 2
    assert not out_dir.exists() or not any(out_dir.iterdir())  # nothing half-written


def test_kales_rok_only_volume_kinds_stay_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _with_meta(
        tmp_path / "nb.ipynb",
        volumes=[
            {"type": "clone", "name": "ws", "mount_point": "/home/jovyan", "size": 5},
            {"type": "new_pvc", "name": "scratch", "mount_point": "/scratch"},
            {"type": "pv", "name": "raw", "mount_point": "/raw"},
            {"type": "pvc", "name": "data", "mount_point": "/data", "snapshot": True},
        ],
    )
    code, out, err = cli(capsys, "analyze", nb, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    for step in data["steps"]:
        assert step["settings"]["volumes"] == [{"pvc": "data", "mount_path": "/data"}]
    kinds = sorted(
        (d["severity"], d["kind"]) for d in data["diagnostics"] if "volumes[" in d["message"]
    )
    assert kinds == [
        ("info", "unsupported-metadata"),
        ("info", "unsupported-metadata"),
        ("warning", "unsupported-volume"),
        ("warning", "unsupported-volume"),
    ]


# -- 17c. the notebook's requirements are checked as a requirements.txt is ---------------
BASE = "kale-like/base:py3.11"
PIP_OPTIONS = [
    "--index-url http://pypi.evil.example/simple",
    "-e .",
    "-r other.txt",
    "--pre",
    "joblib\n--extra-index-url http://pypi.evil.example/simple",
    "joblib --hash=sha256:00",
]


@pytest.mark.parametrize("line", PIP_OPTIONS)
def test_a_pip_option_in_notebook_requirements_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    nb = _with_meta(tmp_path / "nb.ipynb", requirements=["joblib", line])
    out = tmp_path / "build"
    code, stdout, err = cli(capsys, "build", nb, "--dry-run", "-o", out, "--base-image", BASE)
    assert code == 2, stdout + err
    assert f"kubeflow_notebook.requirements[1] {line!r}" in err
    assert "fix:" in err and "Traceback" not in err
    assert not out.exists()  # nothing written


def test_requirements_txt_lines_get_the_same_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One validator: the lines refused in metadata are skipped (warned) in requirements.txt,
    # which often serves the user's own pip too; neither reaches an image.
    plain = [line for line in PIP_OPTIONS if "\n" not in line]
    (tmp_path / "requirements.txt").write_text("\n".join(["joblib", *plain]) + "\n")
    nb = _with_meta(tmp_path / "nb.ipynb", requirements=["scipy  # pinned below"])
    out = tmp_path / "build"
    code, stdout, err = cli(capsys, "build", nb, "--dry-run", "-o", out, "--base-image", BASE)
    assert code == 0, err
    warned = [line for line in err.splitlines() if "requirement-ignored" in line]
    assert len(warned) == len(plain)
    for n, line in enumerate(plain, 2):
        assert any(f"line {n}: {line!r}" in w for w in warned), warned
    written = {
        r
        for folder in out.iterdir()
        if (folder / "requirements.txt").is_file()
        for r in (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
    }
    assert written and all(r and not r.startswith("-") for r in written)
    assert {r.split("==")[0].lower() for r in written} >= {"joblib", "scipy"}
