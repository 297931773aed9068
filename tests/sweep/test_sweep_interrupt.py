"""Ctrl-C stops a real ``kale-like sweep`` process cleanly, and ``--resume`` finishes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from nb_kit import cell, write_notebook

from kale_like.cli import main

VALUES = [0.1, 0.2, 0.3, 0.4]


def _notebook(path: Path) -> Path:
    return write_notebook(
        path,
        cell("import time", "imports"),
        cell("lr = 0.1", "pipeline-parameters"),
        cell("data = [1.0, 2.0, 3.0]", "step:prep"),
        cell(
            "time.sleep(0.3)\nloss = round(sum((x - lr) ** 2 for x in data), 6)",
            "step:train",
            "prev:prep",
        ),
        cell("print(loss)", "pipeline-metrics"),
    )


def _results(root: Path) -> list[dict]:
    for state in root.glob("sweeps/*/sweep.json"):
        try:
            return json.loads(state.read_text()).get("results", [])
        except ValueError:  # never half-written, but be tolerant of a racing reader
            return []
    return []


def test_ctrl_c_then_resume(tmp_path: Path, capsys) -> None:
    nb = _notebook(tmp_path / "nb.ipynb")
    root = tmp_path / "root"
    cmd = [
        sys.executable,
        "-m",
        "kale_like",
        "sweep",
        str(nb),
        "--param",
        "lr=choice:" + ",".join(map(str, VALUES)),
        "--objective",
        "loss",
        "--algorithm",
        "grid",
        "--run-root",
        str(root),
    ]
    # SIGINT must be deliverable even when the test runner ignores it.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while len(_results(root)) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (folder,) = (root / "sweeps").iterdir()
    state = json.loads((folder / "sweep.json").read_text())
    assert state["status"] == "interrupted"
    done = [r["parameters"]["lr"] for r in state["results"]]
    assert 1 <= len(done) < len(VALUES)
    assert f"--resume {folder.name}" in err
    assert (folder / "trials.csv").is_file()

    assert main(["sweep", "--resume", folder.name, "--run-root", str(root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sweep_id"] == folder.name
    assert [t["parameters"]["lr"] for t in result["trials"]] == VALUES
    assert result["best"]["parameters"] == {"lr": 0.4}
    assert json.loads((folder / "sweep.json").read_text())["status"] == "completed"
