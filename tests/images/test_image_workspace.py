"""Files handed between steps in containers: the docker engine (``scripts/docker-up.sh``).

The notebook of tests/runtime/test_workspace.py: ``prepare`` reads data/raw.csv (carried by
the image, read by literal path) and writes data/train.csv and model.joblib; ``train``
reads them; ``late`` reads a file whose path is computed. Values equal a top-to-bottom run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_workspace import files_notebook, top_to_bottom

from kale_like.api.analysis import load_pipeline
from kale_like.engines.docker import run as docker_run

pytestmark = pytest.mark.docker


def test_docker_engine_hands_files_over_like_top_to_bottom(
    docker_client: Any, base_image: str, wheelhouse: Path, tmp_path: Path
) -> None:
    nb = files_notebook(tmp_path / "nb")
    truth = top_to_bottom(nb, ["total", "length"], tmp_path)
    pipeline = load_pipeline(nb)
    result = docker_run(
        pipeline, {}, tmp_path / "root", base_image=base_image, wheelhouse=wheelhouse,
        client=docker_client,
    )  # fmt: skip
    assert result.status == "succeeded", {k: v.error for k, v in result.steps.items()}
    assert {k: result.metrics[k] for k in ("total", "length")} == truth
