"""What the user reads (issue 12, items 8, 10, 21, 22): strict JSON from the CLI, unknown
engine options named, verify's JSON carrying the run, no kernel noise, exception texts in
divergences and a last line that names the failed step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook
from rest_kit import strict_loads

ENV = {**os.environ, "KALE_LIKE_DOCKER": "0"}


def kale(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process: what a terminal shows, kernel output included."""
    return subprocess.run(
        [sys.executable, "-m", "kale_like", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=300,
        check=False,
    )


def top_to_bottom(*sources: str) -> dict[str, Any]:
    """Ground truth: the cells' code run in one namespace, as a kernel would."""
    ns: dict[str, Any] = {}
    exec("\n".join(sources), ns)
    return ns


SUM = ("xs = [i * i for i in range(5)]", "total = sum(xs)\nmean = total / len(xs)")


def summing_notebook(path: Path) -> Path:
    return write_notebook(
        path,
        cell(SUM[0], "step:load"),
        cell(SUM[1], "step:reduce", "prev:load"),
        cell("print(total)\nprint(mean)", "pipeline-metrics"),
    )


def test_run_verify_json_includes_the_run_itself(tmp_path: Path) -> None:
    nb = summing_notebook(tmp_path / "nb.ipynb")
    out = kale("run", nb, "--verify", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # No kernel noise anywhere (the kernel writes to the inherited stderr).
    assert "IPKernelApp" not in out.stderr and "without encryption" not in out.stderr
    doc = strict_loads(out.stdout)
    assert doc["ok"] is True
    truth = top_to_bottom(*SUM)
    assert doc["run"]["status"] == "succeeded"
    assert doc["run"]["run_id"] == doc["run_id"]
    assert set(doc["run"]["steps"]) == {"load", "reduce"}
    assert doc["run"]["metrics"] == {"total": truth["total"], "mean": truth["mean"]}


def test_a_divergence_names_the_exception_text(tmp_path: Path) -> None:
    # Only a kernel (papermill's top-to-bottom run) takes the branch that calls an
    # undefined function; the pipeline's steps do not.
    code = (
        "shell = type(get_ipython()).__name__\n"
        "if shell == 'ZMQInteractiveShell':\n"
        "    y = encode(x)\n"
        "else:\n"
        "    y = x"
    )
    nb = write_notebook(tmp_path / "nb.ipynb", cell("x = 1", "step:a"), cell(code, "step:b"))
    out = kale("verify", nb, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "cell 2 raised NameError: name 'encode' is not defined" in out.stdout, out.stdout
    assert "IPKernelApp" not in out.stderr


def test_the_last_line_of_a_failed_run_names_the_step(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "nb.ipynb", cell("x = 1", "step:a"), cell("y = x / 0", "step:divide")
    )
    out = kale("run", nb, cwd=tmp_path)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert "step 'divide'" in last and "ZeroDivisionError" in last, out.stderr


def test_run_json_with_non_finite_metrics_is_strict_json(tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("loss = float('nan')\ngain = float('-inf')\nok = 0.5", "step:train"),
        cell("print(loss)\nprint(gain)\nprint(ok)", "pipeline-metrics"),
    )
    out = kale("run", nb, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = strict_loads(out.stdout)
    assert doc["metrics"] == {"loss": None, "gain": None, "ok": 0.5}
    # A record an older version wrote with a bare NaN still reads, and prints strictly.
    record = Path(doc["steps"]["train"]["report"]).parents[2] / "run.json"
    text = record.read_text(encoding="utf-8")
    record.write_text(text.replace('"ok": 0.5', '"ok": NaN'), encoding="utf-8")
    assert "NaN" in record.read_text(encoding="utf-8")
    shown = kale(
        "runs", "show", doc["run_id"], "--json", "--run-root", tmp_path / ".kale_like", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert strict_loads(shown.stdout)["run_id"] == doc["run_id"]
    listed = kale("runs", "list", "--json", "--run-root", tmp_path / ".kale_like", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    strict_loads(listed.stdout)


@pytest.mark.parametrize(
    ("engine", "option"), [("local", "foo=bar"), ("local", "token_file=t"), ("kfp-local", "x=1")]
)
def test_an_engine_option_the_engine_ignores_exits_2_naming_it(
    tmp_path: Path, engine: str, option: str
) -> None:
    nb = summing_notebook(tmp_path / "nb.ipynb")
    out = kale("run", nb, "--engine", engine, "-o", option, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert option.split("=")[0] in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / ".kale_like" / "runs").exists() or not any(
        (tmp_path / ".kale_like" / "runs").iterdir()
    )


def test_the_api_refuses_invalid_image_references_like_image_tags(tmp_path: Path) -> None:
    from kale_like import api
    from kale_like.errors import InputError

    nb = summing_notebook(tmp_path / "nb.ipynb")
    with pytest.raises(InputError, match="not an image reference"):
        api.compile(str(nb), tmp_path / "out", images={"load": "evil\nFROM scratch"})
    assert not (tmp_path / "out").exists()
    assert json.loads(nb.read_text())["cells"]  # the notebook itself untouched
