"""Adversarial notebooks (notebooks.py): a run is right, or it fails naming why.

For each notebook the local pipeline must agree with a top-to-bottom run (``verify``), or
fail naming the variable and a fix. For a subset, ``kfp-local`` (the compiled YAML under
KFP's own runner) must give the same metrics, or fail naming the variable and a fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from extras import require
from nb_kit import write_notebook
from notebooks import NOTEBOOKS

from kale_like.api.execution import run
from kale_like.verification import verify

require("papermill")
require("sklearn")

# Notebooks no pipeline can run as written: the run must fail naming the variable and a fix.
NAMED_FAILURES = {"generator_between_steps": "gen"}
# kfp-local cannot re-plan a submitted pipeline: writes seen only at run time fail the step,
# naming the variable and a fix (the local engine re-plans and is right).
KFP_NAMED_FAILURES = {
    "matplotlib_across_steps": "fig",
    "generator_between_steps": "gen",
}
KFP_SUBSET = [
    "step_function_globals",
    "method_mutations",
    "global_config",
    "files_between_steps",
    "numpy_rng_sample",
    "container_aliases",
    "kale_block_style",
    *KFP_NAMED_FAILURES,
]


def _build(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_notebook(folder / f"{name}.ipynb", *NOTEBOOKS[name]())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_local_pipeline_equals_top_to_bottom(name: str, tmp_path: Path) -> None:
    nb = _build(name, tmp_path)
    report = verify(nb, run_root=tmp_path / "runs")
    if name in NAMED_FAILURES:
        failed = report.result.failed_step
        assert failed is not None, report.to_text()
        assert f"'{NAMED_FAILURES[name]}'" in (failed.error or "") and "fix" in (
            failed.traceback or failed.error or ""
        ), failed.error
        return
    assert report.ok, report.to_text()
    assert report.run_status == "succeeded", report.to_text()
    assert report.result.metrics and all(
        f"metric:{m}" in report.compared for m in report.result.metrics
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", KFP_SUBSET)
def test_kfp_local_is_right_or_names_why(name: str, tmp_path: Path) -> None:
    nb = _build(name, tmp_path)
    local = run(nb, run_root=tmp_path / "local")
    remote = run(nb, engine="kfp-local", run_root=tmp_path / "kfp")
    if name in KFP_NAMED_FAILURES:
        failed = remote.failed_step
        assert remote.status == "failed" and failed is not None
        assert f"{KFP_NAMED_FAILURES[name]}" in (failed.error or "") and "fix" in (
            failed.error or ""
        ), failed.error
        return
    assert local.status == remote.status == "succeeded", (local.status, remote.status)
    assert remote.metrics == local.metrics
