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
from nb_kit import cell, edit_cell, write_notebook
from nbformat.v4 import new_markdown_cell

papermill = pytest.importorskip("papermill")

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
