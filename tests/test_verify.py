"""verify: top-to-bottom papermill run vs pipeline run; agreement and named divergences."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from extras import require
from nb_kit import cell
from nb_kit import write_notebook as write
from nbformat.v4 import new_markdown_cell

from kale_like.verification import VerifyReport, verify

require("papermill")


def run_verify(nb: Path, tmp_path: Path, **kw: Any) -> VerifyReport:
    return verify(nb, run_root=tmp_path / "runs", **kw)


def _valid_corpus() -> list[str]:
    from corpus_kit import load_manifest

    try:
        return [e["file"] for e in load_manifest() if e["valid"]]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("name", _valid_corpus())
def test_verify_passes_on_every_valid_corpus_notebook(
    name: str, corpus_dir: Path, manifest: list[dict[str, Any]], tmp_path: Path
) -> None:
    nb = tmp_path / name
    shutil.copy(corpus_dir / name, nb)  # side files (03's temp file) stay in tmp
    before = hashlib.sha256(nb.read_bytes()).hexdigest()
    report = run_verify(nb, tmp_path)
    assert report.ok, report.to_text()
    assert hashlib.sha256(nb.read_bytes()).hexdigest() == before  # never modified
    entry = next(e for e in manifest if e["file"] == name)
    if "expected_failure" in entry:
        assert any("both runs failed" in n for n in report.notes)
        assert report.run_status == "failed"
        assert report.result.failed_step.name == entry["expected_failure"]["step"]
    else:
        assert report.run_status == "succeeded"
    passed = sum(len(v) for producers in entry["must_pass"].values() for v in producers.values())
    assert len(report.compared) >= passed


def test_verify_uses_the_given_parameters(corpus_dir: Path, tmp_path: Path) -> None:
    nb = tmp_path / "01_linear.ipynb"
    shutil.copy(corpus_dir / "01_linear.ipynb", nb)
    report = run_verify(nb, tmp_path, parameters={"n": 4, "scale": 0.5, "label": "short"})
    assert report.ok, report.to_text()
    assert "metric:mean" in report.compared


def test_verify_under_kfp_local_says_it_compared_metrics_only(
    corpus_dir: Path, manifest: list[dict[str, Any]], tmp_path: Path
) -> None:
    nb = tmp_path / "01_linear.ipynb"
    shutil.copy(corpus_dir / "01_linear.ipynb", nb)
    report = run_verify(nb, tmp_path, engine="kfp-local")
    entry = next(e for e in manifest if e["file"] == "01_linear.ipynb")
    assert report.ok, report.to_text()
    assert sorted(report.compared) == sorted(f"metric:{m}" for m in entry["metrics"])
    assert any(n.startswith("only metrics were compared") for n in report.notes)
    assert "only metrics were compared" in report.to_text()


def test_unseeded_rng_agrees_when_the_draws_follow_the_notebook(tmp_path: Path) -> None:
    # verify starts both runs from one seed; the RNG state is carried from step to step, so
    # a notebook that never seeds still gives the same draws (Kale's candies example).
    nb = write(
        tmp_path / "rng.ipynb",
        cell("import random", "imports"),
        cell("x = random.random()", "step:draw"),
        cell("y = x * 2 + random.random()", "step:use", "prev:draw"),
    )
    report = run_verify(nb, tmp_path)
    assert report.ok, report.to_text()
    assert {"draw.x", "use.x"} <= set(report.compared)


def test_parallel_unseeded_draws_diverge_at_the_drawing_step(tmp_path: Path) -> None:
    # Top to bottom, 'right' draws after 'left'; the draws go through an alias the analysis
    # cannot see, so the steps run in parallel and both start from the seed.
    nb = write(
        tmp_path / "rng.ipynb",
        cell("import random", "imports"),
        cell("base = 1\ndraw = random.random", "step:start"),
        cell("x = draw()", "step:left", "prev:start"),
        cell("z = base + draw()", "step:right", "prev:start"),
        cell("y = z * 2", "step:use", "prev:right"),
    )
    report = run_verify(nb, tmp_path)
    assert not report.ok
    assert report.mismatches[0].step == "right"
    assert "DIVERGED" in report.to_text() and "'right'" in report.to_text()
    assert report.to_json()["ok"] is False


def test_untracked_mutation_is_named(tmp_path: Path) -> None:
    nb = write(
        tmp_path / "mut.ipynb",
        new_markdown_cell("exec() hides a mutation from the analysis"),
        cell("lst = [1]", "step:a"),
        cell("exec('lst.append(2)', {'lst': lst})", "step:b", "prev:a"),
        cell("total = sum(lst)", "step:c", "prev:b"),
    )
    report = run_verify(nb, tmp_path)
    # The runtime observed b change lst and the local engine re-routed it to c: the run is
    # right, so verify (comparing c's input with the step that really provided it) agrees,
    # and the run names what it re-planned.
    assert report.ok, report.to_text()
    assert "c.lst" in report.compared
    assert any("lst" in n for n in report.result.steps["b"].notes)


def test_missing_dependency_failure_is_named(tmp_path: Path) -> None:
    nb = write(
        tmp_path / "missing.ipynb",
        cell("lst = [1]", "step:a"),
        cell("exec('print(lst)')", "step:b", "prev:a"),
    )
    report = run_verify(nb, tmp_path)
    assert not report.ok
    first = report.mismatches[0]
    assert (first.step, first.kind) == ("b", "failure")
    assert "missing dependency: 'lst'" in first.cause


def test_a_failed_run_is_not_reported_as_metrics_only(tmp_path: Path) -> None:
    # The failed step saved nothing: that is the failure, not an engine limitation.
    nb = write(
        tmp_path / "fails.ipynb",
        cell("x = 1\ny = 1 / 0", "step:a"),
        cell("z = x + y", "step:b", "prev:a"),
    )
    report = run_verify(nb, tmp_path)
    assert report.run_status == "failed"
    assert any("both runs failed in step 'a'" in n for n in report.notes)
    assert not any("not compared" in n or "only metrics" in n for n in report.notes), report.notes


def test_verify_leaves_the_notebook_folder_as_it_was(tmp_path: Path) -> None:
    # Both runs read the folder's files; what they write stays in their own directories.
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data.txt").write_text("4\n", encoding="utf-8")
    nb = write(
        folder / "files.ipynb",
        cell(
            "n = int(open('data.txt').read())\nopen('out.txt', 'w').write(str(n * 2))", "step:make"
        ),
        cell("doubled = int(open('out.txt').read())", "step:use", "prev:make"),
        cell("print(doubled)", "pipeline-metrics"),
    )
    before = sorted(p.name for p in folder.iterdir())
    report = run_verify(nb, tmp_path)
    assert report.ok, report.to_text()
    assert "metric:doubled" in report.compared
    assert sorted(p.name for p in folder.iterdir()) == before
