"""``kale-like build`` and ``compile --images`` from the command line, without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nb_kit import write_notebook

from kale_like.cli import main

BASE = "kale-like/base:py3.11"


def write_nb(path: Path, cells: list[tuple[list[str], str]]) -> Path:
    return write_notebook(path, *((src, tags) for tags, src in cells))


def test_dry_run_writes_one_folder_per_image(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "build"
    nb = corpus_dir / "26_sklearn_model.ipynb"
    before = nb.read_bytes()
    code = main(["build", str(nb), "--dry-run", "-o", str(out), "--base-image", BASE, "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    doc = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert doc["images"] == result["images"]
    assert set(doc["images"]) == {"load", "split", "train", "evaluate"}
    for entry in doc["builds"]:
        folder = out / entry["folder"]
        dockerfile = (folder / "Dockerfile").read_text(encoding="utf-8")
        assert dockerfile.splitlines()[1] == f"FROM {BASE}"
        reqs = (folder / "requirements.txt").read_text(encoding="utf-8").split()
        assert all(r.count("==") == 1 for r in reqs)
    import importlib.metadata as md

    pinned = {r for e in doc["builds"] for r in e["requirements"]}
    assert f"scikit-learn=={md.version('scikit-learn')}" in pinned
    assert nb.read_bytes() == before  # the notebook is never modified


def test_dry_run_names_the_file_it_wrote(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # -o given with a trailing slash, as the README's example does: one path, no "//".
    out = tmp_path / "build"
    nb = corpus_dir / "01_linear.ipynb"
    assert main(["build", str(nb), "--dry-run", "-o", f"{out}/", "--base-image", BASE]) == 0
    assert f"wrote {out / 'images.json'}\n" in capsys.readouterr().err


def test_step_image_tags_are_used_as_is(tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "b"
    nb = corpus_dir / "22_step_settings.ipynb"
    assert main(["build", str(nb), "--dry-run", "-o", str(out), "--base-image", BASE]) == 0
    images = json.loads((out / "images.json").read_text(encoding="utf-8"))["images"]
    assert images["prepare"] == "python:3.11-slim"
    assert images["train"] == "registry.example.com/team/trainer:1.2.3"
    assert images["publish"].startswith("kale-like/")


def test_unknown_module_exits_2_naming_module_and_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = write_nb(
        tmp_path / "nb.ipynb",
        [(["step:load"], "x = 1"), (["step:train"], "import no_such_module_xyz\ny = x")],
    )
    out = tmp_path / "out"
    assert main(["build", str(nb), "--dry-run", "-o", str(out), "--base-image", BASE]) == 2
    err = capsys.readouterr().err
    assert "no_such_module_xyz" in err and "'train'" in err
    assert not out.exists()  # nothing written


def test_no_engine_exits_3_with_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    nb = write_nb(tmp_path / "nb.ipynb", [(["step:a"], "x = 1")])
    assert main(["build", str(nb), "--base-image", BASE]) == 3
    err = capsys.readouterr().err
    assert "no Docker engine" in err and "scripts/docker-up.sh" in err
    assert main(["compile", str(nb), "-o", str(tmp_path / "c"), "--images"]) == 3
    assert not (tmp_path / "c").exists()


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "nb.ipynb", [(["step:a"], "x = 1")])
    assert main(["build", str(nb), "--dry-run"]) == 2  # no -o
    assert main(["build", str(nb), "--push"]) == 2  # no --registry
    assert main(["build", str(nb), "--dry-run", "-o", str(tmp_path / "o"),
                 "--base-image", "evil\nRUN rm -rf /"]) == 2  # fmt: skip


def test_run_docker_takes_base_image_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The flag reaches the image plan (validated there) without $KALE_LIKE_BASE_IMAGE.
    monkeypatch.delenv("KALE_LIKE_BASE_IMAGE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    nb = write_nb(tmp_path / "nb.ipynb", [(["step:a"], "x = 1")])
    root = str(tmp_path / "root")
    args = ["run", str(nb), "--engine", "docker", "--run-root", root, "--base-image"]
    assert main([*args, "evil\nRUN rm -rf /"]) == 2
    assert "base image 'evil\\nRUN rm -rf /' is not a valid image reference" in (
        capsys.readouterr().err
    )
    assert main([*args, BASE]) == 3  # a valid base image: on to the (absent) engine
    assert "no Docker engine" in capsys.readouterr().err
    assert not list((tmp_path / "root" / "runs").glob("*"))  # no half-made run folders
