"""``kale-like analyze``: formats, exit codes, no tracebacks, for every corpus notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from corpus_kit import load_manifest

from kale_like.cli import main
from kale_like.cli.analyze import mermaid

ENTRIES = load_manifest()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_every_corpus_notebook(
    entry: dict[str, Any], corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, str(corpus_dir / entry["file"]), "--format", "json")
    assert "Traceback" not in out + err
    if entry["valid"] or entry.get("if_upgraded"):
        assert code == 0, err
        data = json.loads(out)
        exp = entry if entry["valid"] else entry["if_upgraded"]
        if exp.get("steps"):
            assert [s["name"] for s in data["steps"]] == exp["steps"]
        assert set(data) == {"pipeline", "steps", "cells", "diagnostics"}
        # Each step's cells are exactly the cells whose role names that step.
        for step in data["steps"]:
            owned = [c["cell"] for c in data["cells"] if c["step"] == step["name"]]
            assert owned == step["cells"]
    else:
        assert code == 2
        assert entry["error"] in json.loads(out)["error"]
        if entry["cell"] is not None:
            assert f"cell {entry['cell'] + 1}" in err  # text numbers cells from 1


def test_text_format(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(corpus_dir / "18_missing_dependency.ipynb"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pipeline 18-missing-dependency (4 steps)"
    steps = [ln.split()[1] for ln in lines if ln[:1].isdigit()]
    assert steps == ["load", "weigh", "label", "report"]
    assert "     weights <- weigh" in lines
    assert any("warning[missing-dependency] cell 4" in ln for ln in lines)


def test_text_shows_parameters_and_settings(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, str(corpus_dir / "01_linear.ipynb"))
    assert "parameters: n: int = 10, scale: float = 2.5, label: str = 'linear'" in out
    _, out, _ = run(capsys, str(corpus_dir / "22_step_settings.ipynb"))
    assert '"image": "registry.example.com/team/trainer:1.2.3"' in out


def test_mermaid(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(corpus_dir / "02_diamond.ipynb"), "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "graph TD"
    assert '  s0 -->|"values"| s1' in lines
    assert '  s1 -->|"sum_evens"| s3' in lines
    _, out, _ = run(capsys, str(corpus_dir / "03_prev_ordering.ipynb"), "--format", "mermaid")
    assert "  s0 -.-> s1" in out.splitlines()


def test_mermaid_labels_are_quoted(corpus_dir: Path) -> None:
    from kale_like.api.analysis import load_pipeline

    text = mermaid(load_pipeline(corpus_dir / "09_seeds.ipynb"))
    assert "<" not in text.replace("-->", "") and "#lt;random#gt;" in text


def test_json_flag_and_overrides(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(corpus_dir / "01_linear.ipynb"), "--json", "--name", "other")
    assert code == 0 and json.loads(out)["pipeline"]["name"] == "other"


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--help"]) == 0
    assert "kale-like analyze notebook.ipynb --format mermaid" in capsys.readouterr().out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.ipynb"))
    assert code == 2 and "no such notebook" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "name, code",
    [("02_diamond.ipynb", 0), ("31_invalid_cycle.ipynb", 2), ("41_invalid_not_json.ipynb", 2)],
)
def test_subprocess(corpus_dir: Path, name: str, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kale_like", "analyze", str(corpus_dir / name)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if code:
        assert name in proc.stderr
    else:
        assert "pipeline 02-diamond (4 steps)" in proc.stdout


def test_closed_stdout_is_no_traceback(corpus_dir: Path) -> None:
    # `kale-like analyze nb | head -1`: the reader leaves before the output is written.
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as closed:
        proc = subprocess.run(
            [sys.executable, "-m", "kale_like", "analyze", str(corpus_dir / "23_many_steps.ipynb")],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 141
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
