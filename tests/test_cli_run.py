"""`kale-like run|verify|runs` through the CLI entry point: output contracts, exit codes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus_kit import load_manifest

from kale_like.cli import main

MANIFEST = {e["file"]: e for e in load_manifest() if e.get("valid")}


@pytest.fixture()
def linear(corpus_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "nb" / "01_linear.ipynb"
    target.parent.mkdir()
    shutil.copyfile(corpus_dir / "01_linear.ipynb", target)
    return target


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_contract(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "run", linear, "--json", "--run-root", tmp_path / "root")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"run_id", "status", "metrics", "steps"}
    assert data["status"] == "succeeded"
    assert data["metrics"] == MANIFEST["01_linear.ipynb"]["metrics"]
    assert list(data["steps"]) == ["load", "transform", "summarize"]
    for step in data["steps"].values():
        assert step["status"] == "succeeded" and isinstance(step["seconds"], float)
    # Second run: nothing executes.
    code, out, _ = cli(capsys, "run", linear, "--json", "--run-root", tmp_path / "root")
    assert {s["status"] for s in json.loads(out)["steps"].values()} == {"cached"}


def test_run_parameters_match_override(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    override = MANIFEST["01_linear.ipynb"]["override_runs"][0]
    p = override["parameters"]
    code, out, _ = cli(
        capsys,
        "run",
        linear,
        "--json",
        "--run-root",
        tmp_path / "root",
        "-p",
        "n",
        p["n"],
        "-y",
        f"scale: {p['scale']}",
        "-r",
        "label",
        p["label"],
    )
    assert code == 0
    assert json.loads(out)["metrics"] == override["metrics"]


def test_parameters_file(linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    override = MANIFEST["01_linear.ipynb"]["override_runs"][0]
    f = tmp_path / "params.yaml"
    f.write_text(json.dumps(override["parameters"]))
    code, out, _ = cli(capsys, "run", linear, "--json", "--run-root", tmp_path / "r", "-f", f)
    assert code == 0 and json.loads(out)["metrics"] == override["metrics"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-p", "n", "ten"], "'n'"),
        (["-p", "n", "1.5"], "'n'"),
        (["-p", "alpha", "1"], "scale"),
        (["--engine", "warp"], "kfp-local"),
        (["--from", "nope"], "transform"),
        (["--only", "summarize"], "transform"),
        (["-o", "no-equals-sign"], "KEY=VALUE"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_input_exit_2(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, _, err = cli(capsys, "run", linear, "--run-root", tmp_path / "root", *args)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err


def test_unwritable_run_root_exit_3(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, "run", linear, "--run-root", blocker / "root")
    assert code == 3
    assert "not writable" in err and "--run-root" in err


def test_failed_step_exit_1(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = tmp_path / "29_runtime_failure.ipynb"
    shutil.copyfile(corpus_dir / nb.name, nb)
    failure = MANIFEST[nb.name]["expected_failure"]
    code, out, err = cli(capsys, "run", nb, "--json", "--run-root", tmp_path / "root")
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failed"
    assert data["steps"][failure["step"]]["status"] == "failed"
    assert all(data["steps"][s]["status"] == "skipped" for s in failure["not_run_steps"])
    assert failure["exception"] in err and f"cell {failure['cell']}" in err
    assert err.count(f"step {failure['step']!r}") == 1  # said once, not twice


def test_verify_of_a_failing_run_exits_1(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Top to bottom fails the same way (agreement), but the run itself failed.
    nb = tmp_path / "29_runtime_failure.ipynb"
    shutil.copyfile(corpus_dir / nb.name, nb)
    code, _, _ = cli(capsys, "verify", nb, "--run-root", tmp_path / "root")
    assert code == 1


def test_runs_list_and_show(
    linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    _, out, _ = cli(capsys, "run", linear, "--json", "--run-root", root)
    run_id = json.loads(out)["run_id"]
    code, out, _ = cli(capsys, "runs", "list", "--run-root", root, "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [run_id]
    code, out, _ = cli(capsys, "runs", "list", "--run-root", root)
    assert code == 0 and run_id in out
    code, out, _ = cli(capsys, "runs", "show", run_id, "--run-root", root, "--json")
    record = json.loads(out)
    assert record["notebook"]["path"] == str(linear)
    assert record["notebook"]["sha256"] == hashlib.sha256(linear.read_bytes()).hexdigest()
    assert record["parameters"] == MANIFEST["01_linear.ipynb"]["parameters"]
    summarize = record["steps"]["summarize"]
    assert summarize["inputs"]["total"]["producer"] == "transform"
    assert (
        summarize["inputs"]["total"]["digest"] == record["steps"]["transform"]["outputs"]["total"]
    )
    assert Path(summarize["report"]).is_file() and Path(summarize["log"]).is_file()
    code, out, _ = cli(capsys, "runs", "show", run_id[:17], "--run-root", root)
    assert code == 0 and "summarize" in out
    code, _, err = cli(capsys, "runs", "show", "nope", "--run-root", root)
    assert code == 2 and run_id in err


def test_default_run_root_beside_notebook(
    linear: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KALE_LIKE_RUN_ROOT", raising=False)
    code, out, _ = cli(capsys, "run", linear, "--json")
    assert code == 0
    run_id = json.loads(out)["run_id"]
    assert (linear.parent / ".kale_like" / "runs" / run_id / "run.json").is_file()


def test_verify_command(linear: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "verify", linear, "--run-root", tmp_path / "root", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["mismatches"] == [] and report["compared"] > 0
    # `run --verify` is the same check, reusing the cached pipeline run.
    code, out, _ = cli(capsys, "run", linear, "--run-root", tmp_path / "root", "--verify")
    assert code == 0 and "OK" in out
    # --from is honoured (it was ignored): load comes from the cache, the rest re-runs.
    root = tmp_path / "root"
    code, out, _ = cli(capsys, "verify", linear, "--run-root", root, "--from", "transform")
    assert code == 0 and "OK" in out
    code, out, _ = cli(capsys, "runs", "list", "--run-root", root, "--json")
    code, out, _ = cli(
        capsys, "runs", "show", json.loads(out)[0]["run_id"], "--run-root", root, "--json"
    )
    assert {k: v["status"] for k, v in json.loads(out)["steps"].items()} == {
        "load": "cached",
        "transform": "succeeded",
        "summarize": "succeeded",
    }
    # --only would leave steps out of the comparison: refused, not ignored.
    code, _, err = cli(capsys, "verify", linear, "--run-root", root, "--only", "load")
    assert code == 2 and "--only" in err


def test_run_root_from_environment(
    linear: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KALE_LIKE_RUN_ROOT", str(tmp_path / "env-root"))
    code, out, _ = cli(capsys, "run", linear, "--json")
    assert code == 0
    run_id = json.loads(out)["run_id"]
    assert (tmp_path / "env-root" / "runs" / run_id / "run.json").is_file()
    assert not (linear.parent / ".kale_like").exists()
    code, out, _ = cli(capsys, "runs", "list", "--json")
    assert [r["run_id"] for r in json.loads(out)] == [run_id]


def test_output_assigned_on_one_branch_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `x` is bound only when flag is true. Top to bottom the notebook succeeds with flag
    # false (nothing reads x then) and fails with a NameError in the reading cell when a
    # reader needs it; the pipeline must do the same, not fail in the producer.
    from nb_kit import cell, write_notebook

    cells = [
        ("flag = False", "pipeline-parameters"),
        ("if flag:\n    x = 1\ny = 2", "step:a"),
        ("z = x + y if flag else y", "step:b", "prev:a"),
        ("w = x", "step:c", "prev:b"),
        ("print(z)", "pipeline-metrics"),
    ]
    nb = write_notebook(tmp_path / "branch.ipynb", *(cell(*c) for c in cells))
    # Ground truth: the cells in one namespace, top to bottom, up to the first error.
    ns: dict[str, Any] = {}
    error = None
    for index, (src, *_tags) in enumerate(cells):
        try:
            exec(src, ns)
        except NameError as exc:
            error = (index, str(exc))
            break
    assert error == (3, "name 'x' is not defined") and ns["z"] == 2
    root = tmp_path / "root"
    code, out, err = cli(capsys, "run", nb, "--json", "--run-root", root)
    data = json.loads(out)
    assert code == 1 and data["metrics"] == {"z": ns["z"]}
    assert {k: v["status"] for k, v in data["steps"].items()} == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "failed",
    }
    assert "cell 3" in err and "name 'x' is not defined" in err and "step 'a'" in err
    code, out, _ = cli(capsys, "run", nb, "--json", "--run-root", root, "-p", "flag", "True")
    assert code == 0 and json.loads(out)["metrics"] == {"z": 3}


@pytest.mark.parametrize(
    "command",
    [
        ["analyze"],
        ["compile"],
        ["run"],
        ["verify"],
        ["runs"],
        ["runs", "list"],
        ["runs", "show"],
    ],
)
def test_help_shows_examples(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, *command, "--help")
    assert code == 0
    examples = out.split("examples:", 1)[1]
    assert f"kale-like {command[0]} " in examples and "exit codes:" in examples
