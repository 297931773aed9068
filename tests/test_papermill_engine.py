"""papermill engine ``kale_like``: papermill's CLI and API, outputs vs a plain papermill run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from extras import require
from nb_kit import cell, edit_cell, write_notebook
from nbformat.v4 import new_markdown_cell

papermill = require("papermill")

PAPERMILL = str(Path(sys.executable).with_name("papermill"))


def demo_notebook(path: Path) -> Path:
    """Diamond with prints, stderr, a result, HTML display and a failure-free metrics cell."""
    return write_notebook(
        path,
        new_markdown_cell("# Demo"),
        cell("import sys\nfrom IPython.display import HTML, display", "imports"),
        cell("alpha = 0.1\nsize = 4", "parameters"),
        cell("data = list(range(size))\nprint('loaded', len(data))", "step:load"),
        cell(
            "left = [x * alpha for x in data]\nprint('left', file=sys.stderr)\nsum(left)",
            "step:left",
            "prev:load",
        ),
        cell(
            "right = [x + 1 for x in data]\ndisplay(HTML('<i>right</i>'))",
            "step:right",
            "prev:load",
        ),
        cell(
            "score = round(sum(left) + sum(right), 4)\nscore",
            "step:join",
            "prev:left",
            "prev:right",
        ),
        cell("print(score)", "pipeline-metrics"),
    )


def comparable(nb: dict[str, Any]) -> list[tuple[Any, list[Any]]]:
    """(execution_count, normalized outputs) of each code cell."""
    out = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        outputs = []
        for o in c.get("outputs", []):
            o = dict(o)
            if "text" in o:
                o["text"] = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            if "data" in o:
                o["data"] = {
                    k: "".join(v) if isinstance(v, list) else v for k, v in o["data"].items()
                }
                o["metadata"] = {}
            if o.get("output_type") == "error":
                o = {"output_type": "error", "ename": o["ename"], "evalue": o["evalue"]}
            outputs.append(o)
        out.append((c.get("execution_count"), outputs))
    return out


@pytest.fixture
def run_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "kale-runs"
    monkeypatch.setenv("KALE_LIKE_RUN_ROOT", str(root))
    return root


def test_cli_matches_a_plain_papermill_run(tmp_path: Path, run_root: Path) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    before = hashlib.sha256(nb.read_bytes()).hexdigest()
    env = dict(os.environ)

    def papermill_cli(*engine: str, out: str) -> None:
        argv = [PAPERMILL, *engine, str(nb), str(tmp_path / out), "-p", "alpha", "0.5"]
        done = subprocess.run(
            [*argv, "--no-progress-bar"], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr

    papermill_cli("--engine", "kale_like", out="out.ipynb")
    papermill_cli(out="plain.ipynb")
    got = json.loads((tmp_path / "out.ipynb").read_text(encoding="utf-8"))
    want = json.loads((tmp_path / "plain.ipynb").read_text(encoding="utf-8"))
    assert comparable(got) == comparable(want)
    assert [c["cell_type"] for c in got["cells"]] == [c["cell_type"] for c in want["cells"]]
    assert got["metadata"]["papermill"]["parameters"] == {"alpha": 0.5}
    statuses = {c["metadata"]["papermill"]["status"] for c in got["cells"]}
    assert statuses == {"completed"}
    assert hashlib.sha256(nb.read_bytes()).hexdigest() == before
    record = json.loads(
        (Path(got["metadata"]["kale_like"]["run_dir"]) / "run.json").read_text("utf-8")
    )
    assert record["run_root"] == str(run_root)


def test_api_and_failures_match_plain_papermill(tmp_path: Path, run_root: Path) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    edit_cell(nb, 6, lambda _: "score = 1 / 0")  # join fails
    results = {}
    for engine in ("kale_like", None):
        out = tmp_path / f"{engine}.ipynb"
        with pytest.raises(papermill.PapermillExecutionError) as info:
            papermill.execute_notebook(
                str(nb), str(out), parameters={"size": 3}, engine_name=engine, progress_bar=False
            )
        assert info.value.ename == "ZeroDivisionError"
        results[engine] = json.loads(out.read_text(encoding="utf-8"))
    assert comparable(results["kale_like"]) == comparable(results[None])


def test_steps_from_an_earlier_plain_run_land_in_their_cells(
    tmp_path: Path, run_root: Path
) -> None:
    # A plain run fills the cache with the notebook's own cell indices; papermill's
    # injected-parameters cell then shifts every later cell by one.
    import kale_like

    nb = demo_notebook(tmp_path / "demo.ipynb")
    assert kale_like.run(str(nb), run_root=run_root).status == "succeeded"
    results = {}
    for engine in ("kale_like", None):
        out = tmp_path / f"{engine}.ipynb"
        papermill.execute_notebook(
            str(nb), str(out), parameters={"alpha": 0.1}, engine_name=engine, progress_bar=False
        )
        results[engine] = json.loads(out.read_text(encoding="utf-8"))
    record = json.loads(
        (Path(results["kale_like"]["metadata"]["kale_like"]["run_dir"]) / "run.json").read_text()
    )
    assert {s["status"] for s in record["steps"].values()} == {"cached"}
    assert comparable(results["kale_like"]) == comparable(results[None])


def _override_runs() -> list[tuple[str, int]]:
    from corpus_kit import load_manifest

    try:
        return [
            (e["file"], i)
            for e in load_manifest()
            for i, _ in enumerate(e.get("override_runs", []))
        ]
    except OSError:
        return []


@pytest.mark.parametrize(("name", "which"), _override_runs())
def test_corpus_overrides_give_the_recorded_metrics(
    name: str,
    which: int,
    corpus_dir: Path,
    manifest: list[dict[str, Any]],
    tmp_path: Path,
    run_root: Path,
) -> None:
    entry = next(e for e in manifest if e["file"] == name)
    override = entry["override_runs"][which]
    nb = tmp_path / name
    shutil.copy(corpus_dir / name, nb)
    out = papermill.execute_notebook(
        str(nb),
        str(tmp_path / "out.ipynb"),
        parameters=override["parameters"],
        engine_name="kale_like",
        progress_bar=False,
    )
    record = json.loads(
        (Path(out.metadata["kale_like"]["run_dir"]) / "run.json").read_text(encoding="utf-8")
    )
    assert record["metrics"] == override["metrics"]
    # the metrics cell prints them as the top-to-bottom run did, one per line
    metrics_cell = next(c for c in out.cells if "pipeline-metrics" in c.metadata.get("tags", []))
    printed = "".join(o["text"] for o in metrics_cell.outputs).split()
    assert printed == [str(v) for v in override["metrics"].values()]


def test_ten_runs_changing_a_last_step_parameter_run_upstream_once(
    tmp_path: Path, run_root: Path
) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    edit_cell(nb, 2, lambda _: "alpha = 0.1\nsize = 4\nbonus = 0")
    edit_cell(nb, 6, lambda _: "score = round(sum(left) + sum(right), 4) + bonus\nscore")
    executed: dict[str, int] = {}
    for bonus in range(10):
        out = papermill.execute_notebook(
            str(nb),
            str(tmp_path / f"out{bonus}.ipynb"),
            parameters={"bonus": bonus},
            engine_name="kale_like",
            progress_bar=False,
        )
        run_dir = Path(out.metadata["kale_like"]["run_dir"])
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        for step, info in record["steps"].items():
            executed[step] = executed.get(step, 0) + (info["status"] == "succeeded")
        assert record["metrics"]["score"] == 10.6 + bonus
    assert executed == {"load": 1, "left": 1, "right": 1, "join": 10}


def test_plots_equal_a_plain_run_in_memory(tmp_path: Path, run_root: Path) -> None:
    path = write_notebook(
        tmp_path / "plot.ipynb",
        cell("import matplotlib.pyplot as plt", "imports"),
        cell("plt.plot([1, 2, 3])\nplt.title('t');", "step:plot"),
        cell("print('after')", "step:after", "prev:plot"),
    )
    ours = papermill.execute_notebook(
        str(path), str(tmp_path / "a.ipynb"), engine_name="kale_like", progress_bar=False
    )
    plain = papermill.execute_notebook(str(path), str(tmp_path / "b.ipynb"), progress_bar=False)
    assert [c.outputs for c in ours.cells] == [c.outputs for c in plain.cells]
    assert "image/png" in ours.cells[1].outputs[0]["data"]


# -- issue 16: the engine behaves like papermill ---------------------------------------------


def _both(path: Path, tmp_path: Path, **kwargs: Any) -> dict[str | None, Any]:
    """Run ``path`` with kale_like and with papermill's own engine: result or raised error."""
    out: dict[str | None, Any] = {}
    for engine in ("kale_like", None):
        target = tmp_path / f"out-{engine}.ipynb"
        try:
            papermill.execute_notebook(
                str(path), str(target), engine_name=engine, progress_bar=False, **kwargs
            )
            out[engine] = json.loads(target.read_text(encoding="utf-8"))
        except Exception as err:  # compared below, type and message
            out[engine] = err
    return out


def _papermill_view(nb: dict[str, Any]) -> tuple[Any, ...]:
    """What papermill records: outputs and counts, cell statuses, the exception flag."""
    statuses = [c["metadata"].get("papermill", {}).get("status") for c in nb["cells"]]
    return comparable(nb), statuses, nb["metadata"]["papermill"].get("exception")


REFUSED = {
    "syntax error after the failing cell": [
        cell("x = 1\nprint(x)", "step:a"),
        cell("1 / 0", "step:b", "prev:a"),
        cell("def broken(:\n    pass", "step:c", "prev:b"),
    ],
    "parameters cell with more than literals": [
        cell("import os\nalpha = 1\nprint('params')\nflag = alpha == 3", "parameters"),
        cell("print(alpha, flag, os.sep)", "step:a"),
    ],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_notebooks_the_analysis_refuses_run_as_papermill_runs_them(
    case: str, tmp_path: Path, run_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", *REFUSED[case])
    with caplog.at_level("WARNING", logger="papermill"):
        got = _both(nb, tmp_path)
    refusal = [
        r.message for r in caplog.records if "cannot run this notebook as a pipeline" in r.message
    ]
    assert len(refusal) == 1 and "cell" in refusal[0]
    if isinstance(got[None], Exception):
        assert type(got["kale_like"]) is type(got[None])
        assert got["kale_like"].ename == got[None].ename
        got = {e: json.loads((tmp_path / f"out-{e}.ipynb").read_text("utf-8")) for e in got}
    assert _papermill_view(got["kale_like"]) == _papermill_view(got[None])


def test_notebooks_without_code_or_with_only_parameters_run(tmp_path: Path, run_root: Path) -> None:
    for name, cells in {
        "none": [new_markdown_cell("# only text")],
        "params": [cell("a = 1", "parameters")],
    }.items():
        nb = write_notebook(tmp_path / f"{name}.ipynb", *cells)
        got = _both(nb, tmp_path, parameters={"a": 2})
        assert _papermill_view(got["kale_like"]) == _papermill_view(got[None])


@pytest.mark.parametrize("exit_code", ["", "0", "1"])
def test_sys_exit_stops_a_tagged_notebook_as_papermill_does(
    exit_code: str, tmp_path: Path, run_root: Path
) -> None:
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("print('a')", "step:a"),
        cell(f"import sys\nsys.exit({exit_code})", "step:b", "prev:a"),
        cell("print('never')", "step:c", "prev:b"),
    )
    got = _both(nb, tmp_path)
    if exit_code == "1":
        assert isinstance(got["kale_like"], papermill.PapermillExecutionError)
        assert got["kale_like"].ename == got[None].ename == "SystemExit"
        got = {e: json.loads((tmp_path / f"out-{e}.ipynb").read_text("utf-8")) for e in got}
    assert _papermill_view(got["kale_like"]) == _papermill_view(got[None])
    assert got["kale_like"]["cells"][-1]["execution_count"] is None


def test_execution_timeout_and_unknown_kernels_fail_as_with_papermill(
    tmp_path: Path, run_root: Path
) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    edit_cell(nb, 4, lambda s: "import time\ntime.sleep(60)\n" + s)
    timed = _both(nb, tmp_path, execution_timeout=2)
    assert type(timed["kale_like"]) is type(timed[None])
    assert isinstance(timed[None], TimeoutError)
    unknown = _both(nb, tmp_path, kernel_name="no-such-kernel")
    assert type(unknown["kale_like"]) is type(unknown[None])
    assert str(unknown["kale_like"]) == str(unknown[None])


def test_pipeline_errors_read_as_ipython_tracebacks(tmp_path: Path, run_root: Path) -> None:
    from papermill.exceptions import strip_color

    nb = demo_notebook(tmp_path / "demo.ipynb")
    edit_cell(nb, 6, lambda _: "a = 1\nb = 2\nscore = 1 / 0\nc = 3")
    got = _both(nb, tmp_path)
    ours, plain = got["kale_like"], got[None]
    assert isinstance(ours, papermill.PapermillExecutionError)
    assert [strip_color(t) for t in ours.traceback] == [strip_color(t) for t in plain.traceback]
    assert ours.exec_count == plain.exec_count and ours.cell_index == plain.cell_index
    out = json.loads((tmp_path / "out-kale_like.ipynb").read_text("utf-8"))
    assert out["metadata"]["kale_like"]["run_id"]  # it ran as a pipeline


def test_pipeline_cells_empty_counts_durations_and_progress(tmp_path: Path, run_root: Path) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    edit_cell(nb, 5, lambda s: "import time\ntime.sleep(0.6)\n" + s)
    data = json.loads(nb.read_text("utf-8"))
    data["cells"].insert(4, {"cell_type": "code", "id": "empty", "metadata": {}, "source": "",
                             "outputs": [], "execution_count": None})  # fmt: skip
    nb.write_text(json.dumps(data), encoding="utf-8")
    got = _both(nb, tmp_path, parameters={"alpha": 0.5})
    assert got["kale_like"]["metadata"]["kale_like"]["run_id"]
    assert _papermill_view(got["kale_like"]) == _papermill_view(got[None])
    durations = [c["metadata"]["papermill"]["duration"] for c in got["kale_like"]["cells"]]
    slow = next(c for c in got["kale_like"]["cells"] if "time.sleep(0.6)" in "".join(c["source"]))
    assert 0.6 <= slow["metadata"]["papermill"]["duration"] < 5
    assert all(d is not None for d in durations)  # every cell went through the manager


def test_cli_cwd_runs_in_the_working_directory_without_stray_folders(tmp_path: Path) -> None:
    (tmp_path / "nb").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.txt").write_text("41", encoding="utf-8")
    write_notebook(
        tmp_path / "nb" / "demo.ipynb",
        cell("value = int(open('data.txt').read())", "step:load"),
        cell("print(value + 1)", "step:show", "prev:load"),
    )
    env = {k: v for k, v in os.environ.items() if k != "KALE_LIKE_RUN_ROOT"}
    for engine, out in ((["--engine", "kale_like"], "ours.ipynb"), ([], "plain.ipynb")):
        done = subprocess.run(
            [PAPERMILL, *engine, "nb/demo.ipynb", out, "--cwd", "work", "--no-progress-bar"],
            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    ours = json.loads((tmp_path / "ours.ipynb").read_text("utf-8"))
    plain = json.loads((tmp_path / "plain.ipynb").read_text("utf-8"))
    assert ours["metadata"]["kale_like"]["run_id"]
    assert comparable(ours) == comparable(plain)
    assert not (tmp_path / "work" / "nb").exists()
    assert not (tmp_path / "nb" / ".kale_like").exists()
    assert (tmp_path / "work" / ".kale_like").is_dir()  # the run records sit where code ran


@pytest.mark.parametrize("how", ["env", "metadata"])
def test_the_cache_can_be_turned_off(
    how: str, tmp_path: Path, run_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = demo_notebook(tmp_path / "demo.ipynb")
    if how == "env":
        monkeypatch.setenv("KALE_LIKE_CACHE", "0")
    else:
        data = json.loads(nb.read_text("utf-8"))
        data["metadata"]["kubeflow_notebook"] = {"cache": False}
        nb.write_text(json.dumps(data), encoding="utf-8")
    statuses = []
    for attempt in range(2):
        out = papermill.execute_notebook(
            str(nb), str(tmp_path / f"o{attempt}.ipynb"), engine_name="kale_like",
            progress_bar=False,
        )  # fmt: skip
        record = json.loads((Path(out.metadata["kale_like"]["run_dir"]) / "run.json").read_text())
        statuses.append({s["status"] for s in record["steps"].values()})
    assert statuses == [{"succeeded"}, {"succeeded"}]


def test_kale_like_can_be_made_papermills_default_engine() -> None:
    code = (
        "import papermill.engines as e, kale_like.papermill_engine as k;"
        "print(e.papermill_engines.get_engine(None) is k.KaleLikeEngine)"
    )
    for value, want in (("1", "True"), ("0", "False")):
        env = {**os.environ, "KALE_LIKE_PAPERMILL_DEFAULT": value}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.stdout.strip() == want, done.stderr
