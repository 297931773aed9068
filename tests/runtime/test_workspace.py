"""Files handed between steps through the working directory (runtime/workspace.py).

Ground truth is a top-to-bottom run of the notebook's code cells in a copy of its folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook

from kale_like.runtime import workspace as ws

PY = sys.executable


# -- ground truth ---------------------------------------------------------------------------
def top_to_bottom(nb_path: Path, names: list[str], tmp: Path) -> dict[str, Any]:
    """Run every code cell (except skip/metrics) in order in a copy of the folder."""
    work = tmp / "ttb"
    shutil.copytree(nb_path.parent, work, ignore=shutil.ignore_patterns(".kale_like", "root"))
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    code = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "pipeline-metrics" not in c["metadata"].get("tags", [])
    ]
    script = (
        "import json, sys\nns = {}\n"
        f"for src in {code!r}:\n    exec(compile(src, 'cell', 'exec'), ns)\n"
        f"print(json.dumps({{n: ns[n] for n in {names!r}}}))\n"
    )
    out = subprocess.run([PY, "-c", script], cwd=work, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def files_notebook(folder: Path) -> Path:
    """prepare writes data/train.csv and model.joblib; train reads both; data/raw.csv exists."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "raw.csv").write_text("x\n1\n2\n3\n", encoding="utf-8")
    return write_notebook(
        folder / "files.ipynb",
        cell("import os\nimport pandas as pd\nimport joblib", "imports"),
        cell(
            "raw = pd.read_csv('data/raw.csv')\n"
            "os.makedirs('data', exist_ok=True)\n"
            "raw.assign(z=raw.x * 2).to_csv('data/train.csv', index=False)\n"
            "joblib.dump({'w': 3}, 'model.joblib')\n"
            "name = 'note' + '.txt'\n"
            "with open(os.path.join('out', name) if os.path.isdir('out') else name, 'w') as f:\n"
            "    f.write('hello')\n"
            "n = 1",
            "step:prepare",
        ),
        cell("k = n + 1", "step:other"),
        cell(
            "train = pd.read_csv('data/train.csv')\n"
            "model = joblib.load('model.joblib')\n"
            "total = float(train.z.sum()) * model['w']",
            "step:train",
        ),
        # reads a file whose path is computed: no static edge, it gets it via ancestors
        cell("note = open('no' + 'te.txt').read()\nlength = len(note) + k", "step:late"),
        cell("print(total)\nprint(length)", "pipeline-metrics"),
    )


# -- runtime unit tests -------------------------------------------------------------------------
def test_snapshot_save_restore_round_trip(tmp_path: Path) -> None:
    root, out, dest = tmp_path / "root", tmp_path / "ws", tmp_path / "dest"
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "old.txt").write_text("old")
    (root / "gone.txt").write_text("bye")
    before = ws.snapshot(root)
    (root / "keep" / "old.txt").write_text("changed!")
    (root / "gone.txt").unlink()
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "a.bin").write_bytes(b"\0\1")
    (root / "empty").mkdir()
    summary = ws.save(root, before, ws.snapshot(root), out, step="s", limit=0)
    assert set(summary.files) == {"keep/old.txt", "new/deep/a.bin"}
    assert summary.deleted == ["gone.txt"] and "empty" in summary.dirs
    # a consumer's working directory: the pre-run files, then the workspace applied
    (dest / "keep").mkdir(parents=True)
    (dest / "keep" / "old.txt").write_text("old")
    (dest / "gone.txt").write_text("bye")
    ws.restore([out], dest)
    assert (dest / "keep" / "old.txt").read_text() == "changed!"
    assert (dest / "new" / "deep" / "a.bin").read_bytes() == b"\0\1"
    assert not (dest / "gone.txt").exists() and (dest / "empty").is_dir()


def test_restore_never_writes_through_a_seed_link(tmp_path: Path) -> None:
    seed, work, out = tmp_path / "seed", tmp_path / "work", tmp_path / "ws"
    seed.mkdir()
    (seed / "data.csv").write_text("original")
    ws.mirror(seed, work)
    assert (work / "data.csv").is_symlink()
    src = tmp_path / "producer"
    src.mkdir()
    before = ws.snapshot(src)
    (src / "data.csv").write_text("new")
    ws.save(src, before, ws.snapshot(src), out, step="p")
    ws.restore([out], work)
    assert (work / "data.csv").read_text() == "new"
    assert (seed / "data.csv").read_text() == "original"  # the user's file is untouched


def test_size_limit_warning_names_step_and_biggest_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    before = ws.snapshot(root)
    (root / "small.txt").write_bytes(b"x" * 10)
    (root / "big.bin").write_bytes(b"x" * 5000)
    (root / "bigger.bin").write_bytes(b"x" * 9000)
    summary = ws.save(root, before, ws.snapshot(root), tmp_path / "ws", step="train", limit=6000)
    assert set(summary.files) == {"small.txt", "big.bin"}
    assert summary.skipped == {"bigger.bin": 9000}
    err = capsys.readouterr().err
    assert "step 'train'" in err and "bigger.bin" in err and ws.ENV_LIMIT in err
    assert ws.parse_limit("1GiB") == 1 << 30 and ws.parse_limit("500M") == 500 << 20


# -- analysis ---------------------------------------------------------------------------------
def test_analysis_adds_file_edges_and_shows_them(tmp_path: Path) -> None:
    from kale_like.api.analysis import load_pipeline
    from kale_like.cli.analyze import text

    nb = files_notebook(tmp_path)
    p = load_pipeline(nb)
    train = p.step("train")
    # The folder counts too: `data/` holds what prepare wrote (a folder another step filled).
    assert dict(train.file_inputs) == {
        "data/train.csv": "prepare",
        "model.joblib": "prepare",
        "data": "prepare",
    }
    assert "prepare" in train.after
    assert p.step("prepare").file_reads == ("data/raw.csv",)
    assert "file:data/train.csv <- prepare" in text(p)
    assert any(d.kind == "file-dependency" and d.step == "train" for d in p.diagnostics)


def test_parallel_sibling_reading_a_written_file_gets_a_diagnostic(tmp_path: Path) -> None:
    from kale_like.api.analysis import load_pipeline

    (tmp_path / "cfg.json").write_text("{}")
    nb = write_notebook(
        tmp_path / "race.ipynb",
        cell("a = 1", "step:start"),
        cell("cfg = open('cfg.json').read()\nb = a", "step:reader", "prev:start"),
        cell("open('cfg.json', 'w').write('{\"x\": 1}')\nc = a", "step:writer", "prev:start"),
    )
    diags = [d for d in load_pipeline(nb).diagnostics if d.kind == "parallel-file-access"]
    assert len(diags) == 1
    assert diags[0].step == "reader" and "'writer'" in diags[0].message
    assert diags[0].cell == 1 and diags[0].fix


# -- engines --------------------------------------------------------------------------------
def _values(result: Any) -> dict[str, Any]:
    return {k: result.values[k] for k in ("total", "length")}


def test_local_engine_hands_files_over_like_top_to_bottom(tmp_path: Path) -> None:
    from kale_like import api

    nb = files_notebook(tmp_path / "nb")
    truth = top_to_bottom(nb, ["total", "length"], tmp_path)
    result = api.run(nb, run_root=tmp_path / "root", keep_values=True)
    assert result.status == "succeeded", result.steps
    assert _values(result) == truth == {"total": 36.0, "length": 7}
    # each step wrote into its own working directory, not into the notebook folder
    assert sorted(os.listdir(nb.parent / "data")) == ["raw.csv"]
    assert not (nb.parent / "model.joblib").exists()


def test_editing_a_data_file_reruns_the_reading_step(tmp_path: Path) -> None:
    from kale_like import api

    nb = files_notebook(tmp_path / "nb")
    first = api.run(nb, run_root=tmp_path / "root")
    assert first.metrics["total"] == 36.0
    again = api.run(nb, run_root=tmp_path / "root")
    assert {s.status for s in again.steps.values()} == {"cached"}
    (nb.parent / "data" / "raw.csv").write_text("x\n1\n2\n4\n", encoding="utf-8")
    edited = api.run(nb, run_root=tmp_path / "root", keep_values=True)
    assert edited.steps["prepare"].status == "succeeded"
    assert edited.steps["train"].status == "succeeded"
    assert edited.metrics["total"] == top_to_bottom(nb, ["total"], tmp_path / "t2")["total"]


def test_a_file_read_only_at_run_time_is_checked_by_the_cache(tmp_path: Path) -> None:
    from kale_like import api

    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "k.txt").write_text("5")
    nb = write_notebook(
        folder / "dyn.ipynb",
        cell("name = 'k' + '.txt'\nk = int(open(name).read())", "step:read"),
        cell("print(k)", "pipeline-metrics"),
    )
    assert api.run(nb, run_root=tmp_path / "root").metrics == {"k": 5}
    (folder / "k.txt").write_text("7")
    assert api.run(nb, run_root=tmp_path / "root").metrics == {"k": 7}


def test_workspace_above_the_limit_warns_in_the_step_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kale_like import api

    monkeypatch.setenv(ws.ENV_LIMIT, "100")
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = write_notebook(
        folder / "big.ipynb",
        cell("open('big.bin', 'wb').write(b'x' * 1000)\nopen('s.txt', 'w').write('ok')", "step:w"),
        cell("s = open('s.txt').read()", "step:r"),
    )
    result = api.run(nb, run_root=tmp_path / "root")
    assert result.status == "succeeded"
    log = Path(result.run_dir, "steps", "w", "log.txt").read_text()
    assert "step 'w'" in log and "big.bin" in log and "workspace limit" in log


@pytest.mark.slow
def test_kfp_local_engine_hands_files_over_like_top_to_bottom(tmp_path: Path) -> None:
    from kale_like import api

    nb = files_notebook(tmp_path / "nb")
    truth = top_to_bottom(nb, ["total", "length"], tmp_path)
    result = api.run(nb, engine="kfp-local", run_root=tmp_path / "root", keep_values=True)
    assert result.status == "succeeded", {k: v.error for k, v in result.steps.items()}
    assert _values(result) == truth
    assert sorted(os.listdir(nb.parent / "data")) == ["raw.csv"]


def test_a_step_overwriting_a_notebook_file_leaves_the_users_copy_alone(tmp_path: Path) -> None:
    from kale_like import api

    nb = files_notebook(tmp_path / "nb")
    (nb.parent / "data" / "train.csv").write_text("stale from an earlier run\n")
    result = api.run(nb, run_root=tmp_path / "root")
    assert result.metrics["total"] == 36.0
    assert (nb.parent / "data" / "train.csv").read_text() == "stale from an earlier run\n"
