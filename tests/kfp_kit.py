"""Pytest fixtures shared by the tests that talk to the KFP contract server.

A test module takes them by name (``server = kfp_kit.server``): pytest finds fixtures among
a module's globals, and an assignment (unlike an import) keeps linters quiet about the test
arguments of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp_server import KfpServer
from kfp_small_pipeline import write_small_pipeline

# Everything kfp_config and kfp.Client read from the environment, so a developer's own
# Kubeflow settings never reach a test.
KFP_ENV = (
    "KF_PIPELINES_ENDPOINT",
    "KFP_HOST",
    "KF_PIPELINES_NAMESPACE",
    "KFP_TOKEN",
    "KF_PIPELINES_TOKEN",
    "KF_PIPELINES_SA_TOKEN_PATH",
    "KALE_LIKE_CONFIG",
    "KF_PIPELINES_UI_ENDPOINT",
    "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
    "KUBERNETES_SERVICE_HOST",
    "KALE_LIKE_METRICS_READER",
)


@pytest.fixture(autouse=True)
def clean_kfp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty HOME, no kubeconfig and none of :data:`KFP_ENV` (autouse where taken)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    for var in KFP_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def server() -> Iterator[KfpServer]:
    """A fresh contract server per test; at teardown, every answer it sent must have fit KFP's
    models (a misfit was answered with a 500 and recorded in ``schema_errors``)."""
    srv = KfpServer().start()
    yield srv
    srv.stop()
    srv.assert_answers_fit()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The small three-step pipeline, compiled once per module."""
    return str(write_small_pipeline(tmp_path_factory.mktemp("pkg") / "small.yaml"))
