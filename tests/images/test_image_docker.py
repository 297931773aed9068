"""End to end with a real Docker engine and registry (``scripts/docker-up.sh``).

Builds and pushes the images of corpus notebooks, pulls one back by digest, runs each
compiled pipeline with KFP's DockerRunner (``network_mode="none"``) and compares metrics
with the manifest's ground truth; checks that an unchanged build builds nothing and that
changing a helper module beside a notebook rebuilds only the last layer.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from kale_like.api.image_builds import build
from kale_like.cli import main
from kale_like.engines.docker import run as docker_run
from kale_like.errors import EnvironmentProblem

pytestmark = pytest.mark.docker

NOTEBOOKS = ("01_linear", "25_pandas", "26_sklearn_model")  # plain, numpy+pandas, sklearn


@pytest.fixture(scope="module", autouse=True)
def runtime_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Build every image of this module from one snapshot of the runtime source, so that
    edits to the working tree while the tests run do not change the images under them."""
    import shutil

    from kale_like.images import pipeline_images

    original = pipeline_images.PACKAGE_DIR
    snapshot = tmp_path_factory.mktemp("src") / "kale_like"
    shutil.copytree(
        original, snapshot, ignore=shutil.ignore_patterns("__pycache__", "labextension")
    )
    pipeline_images.PACKAGE_DIR = snapshot
    yield snapshot
    pipeline_images.PACKAGE_DIR = original


def manifest_entry(manifest: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(e for e in manifest if e["file"] == f"{name}.ipynb")


@pytest.fixture(scope="module")
def built(
    docker_client: Any, registry: str, base_image: str, wheelhouse: Path, corpus_dir: Path
) -> dict[str, Any]:
    """Build and push the images of three corpus notebooks (once for this module)."""
    out = {}
    for name in NOTEBOOKS:
        out[name] = build(
            corpus_dir / f"{name}.ipynb",
            registry=f"{registry}/kale-like-tests",
            push=True,
            base_image=base_image,
            wheelhouse=wheelhouse,
            client=docker_client,
        )
    return out


def test_images_are_pushed_and_pull_back_by_digest(
    built: dict[str, Any], docker_client: Any, registry: str
) -> None:
    for name, result in built.items():
        refs = set(result.images.values())
        assert refs == set(result.built) | set(result.skipped), name
        assert all(r.startswith(f"{registry}/kale-like-tests/") for r in refs)
        for ref in refs:  # every image is in the registry
            docker_client.api.inspect_distribution(ref)
    sklearn = built["26_sklearn_model"]
    ref = sklearn.images["train"]
    digest = docker_client.api.inspect_distribution(ref)["Descriptor"]["digest"]
    pulled = docker_client.images.pull(f"{ref.rsplit(':', 1)[0]}@{digest}")
    assert pulled.id == docker_client.images.get(ref).id


def test_images_hold_pinned_packages_and_run_non_root(
    built: dict[str, Any], docker_client: Any, base_image: str
) -> None:
    import importlib.metadata as md

    ref = built["26_sklearn_model"].images["train"]
    script = (
        "import importlib.metadata as m, os, sklearn, kale_like.runtime;"
        "print(m.version('scikit-learn'), m.version('kfp'), os.getuid())"
    )
    out = docker_client.containers.run(
        ref, ["python3", "-c", script], network_mode="none", remove=True
    )
    assert out.decode().split() == [md.version("scikit-learn"), md.version("kfp"), "1000"]
    attrs = docker_client.images.get(ref).attrs["Config"]
    assert not attrs.get("Entrypoint")
    # the base and the runtime layers (COPY wheels + pip install) are shared across notebooks
    linear = docker_client.images.get(built["01_linear"].images["load"]).attrs["RootFS"]["Layers"]
    sklearn = docker_client.images.get(ref).attrs["RootFS"]["Layers"]
    base = docker_client.images.get(base_image).attrs["RootFS"]["Layers"]
    shared = len(base) + 2
    assert linear[:shared] == sklearn[:shared] and linear[shared] != sklearn[shared]


def test_second_build_builds_nothing(
    built: dict[str, Any], docker_client: Any, registry: str, base_image: str,
    wheelhouse: Path, corpus_dir: Path,
) -> None:  # fmt: skip
    for name in NOTEBOOKS:
        again = build(
            corpus_dir / f"{name}.ipynb",
            registry=f"{registry}/kale-like-tests",
            push=True,
            base_image=base_image,
            wheelhouse=wheelhouse,
            client=docker_client,
        )
        assert again.built == [] and again.pushed == []
        assert sorted(again.skipped) == sorted(set(built[name].images.values()))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_pipeline_runs_in_its_images_with_ground_truth_metrics(
    name: str, built: dict[str, Any], base_image: str, wheelhouse: Path, corpus_dir: Path,
    manifest: list[dict[str, Any]], tmp_path: Path,
) -> None:  # fmt: skip
    from kale_like.api.analysis import load_pipeline

    pipeline = load_pipeline(corpus_dir / f"{name}.ipynb")
    result = docker_run(pipeline, {}, tmp_path, base_image=base_image, wheelhouse=wheelhouse)
    assert result.status == "succeeded", result.failed_step
    assert result.metrics == manifest_entry(manifest, name)["metrics"]
    assert all(r.seconds > 0 for r in result.steps.values())  # timed from kfp.local's log
    record = json.loads((Path(result.run_dir) / "run.json").read_text(encoding="utf-8"))
    assert record["images_built"] == []  # the module fixture already built these images
    assert {s: r["image"].split(":sha-")[1] for s, r in record["steps"].items()} == {
        s: ref.split(":sha-")[1] for s, ref in built[name].images.items()
    }


def helper_notebook(folder: Path, token: str) -> Path:
    """Three steps; the first imports a helper module beside the notebook."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpers.py").write_text(
        f"import numpy as np\nTOKEN = {token!r}\n\ndef scale(x):\n    return int(np.sum(x) * 2)\n",
        encoding="utf-8",
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    cells = [
        (["imports"], "import numpy as np"),
        (["step:make"], "from helpers import scale\ntotal = scale(np.arange(5))"),
        (["step:report"], "doubled = total * 2"),
        (["step:side"], "side = int(np.sqrt(16))"),
        (["pipeline-metrics"], "print(doubled)"),
    ]
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": t}) for t, src in cells]
    path = folder / "helper_demo.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_helper_change_rebuilds_only_the_last_layer(
    docker_client: Any, base_image: str, wheelhouse: Path, tmp_path: Path
) -> None:
    nb = helper_notebook(tmp_path / "nb", uuid.uuid4().hex)
    first = build(nb, base_image=base_image, wheelhouse=wheelhouse, client=docker_client)
    # `report` loads values `make` made with the helper: same environment; `side` does not
    assert first.images["make"] == first.images["report"] != first.images["side"]
    (tmp_path / "nb" / "helpers.py").write_text(
        (tmp_path / "nb" / "helpers.py").read_text(encoding="utf-8").replace("* 2", "* 3"),
        encoding="utf-8",
    )
    second = build(nb, base_image=base_image, wheelhouse=wheelhouse, client=docker_client)
    assert second.images["side"] == first.images["side"]
    assert second.built == [second.images["make"]] != [first.images["make"]]
    log = second.logs[second.images["make"]]
    assert log.rebuilt == ['COPY ["app", "/opt/kale-like/app"]']
    assert sum(log.cached) == len(log.steps) - 1  # every dependency layer from the cache
    result = docker_run(
        __import__("kale_like.api.analysis", fromlist=["x"]).load_pipeline(nb),
        {}, tmp_path / "runs", base_image=base_image, wheelhouse=wheelhouse,
    )  # fmt: skip
    assert result.status == "succeeded" and result.metrics == {"doubled": 60}  # 10 * 3 * 2


def test_compile_images_puts_built_images_into_the_pipeline(
    built: dict[str, Any], base_image: str, wheelhouse: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    nb = corpus_dir / "26_sklearn_model.ipynb"
    args = ["compile", str(nb), "-o", str(out), "--images", "--base-image", base_image,
            "--wheelhouse", str(wheelhouse)]  # fmt: skip
    assert main(args) == 0
    [ir] = list(out.glob("*.yaml"))
    docs = list(yaml.safe_load_all(ir.read_text(encoding="utf-8")))
    executors = docs[0]["deploymentSpec"]["executors"]
    expected = {ref.split(":sha-")[1] for ref in built["26_sklearn_model"].images.values()}
    assert {e["container"]["image"].split(":sha-")[1] for e in executors.values()} == expected
    for e in executors.values():
        command = " ".join(e["container"]["command"])
        assert "pip install" not in command and "kfp==" not in command


def test_unreachable_registry_exits_3_naming_it(
    docker_client: Any, base_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = helper_notebook(tmp_path / "nb", "x")
    code = main(["build", str(nb), "--registry", "127.0.0.1:5999/team", "--push",
                 "--base-image", base_image])  # fmt: skip
    assert code == 3
    assert "registry 127.0.0.1:5999" in capsys.readouterr().err


def test_failing_build_shows_the_dockerfile_line(
    docker_client: Any, wheelhouse: Path, tmp_path: Path
) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:  # an image with no Python at all
        info = tarfile.TarInfo("etc/hostname")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    docker_client.api.import_image_from_data(
        data.getvalue(), repository="kale-like/test-no-python", tag="1"
    )
    nb = helper_notebook(tmp_path / "nb", "y")
    with pytest.raises(EnvironmentProblem) as err:
        build(nb, base_image="kale-like/test-no-python:1", wheelhouse=wheelhouse,
              client=docker_client)  # fmt: skip
    text = str(err.value)
    assert err.value.kind == "build-failed" and err.value.exit_code == 3
    assert 'Dockerfile line 5: RUN ["python3", "-m", "pip"' in text
    assert "build log (last lines)" in text
    kept = Path(err.value.path or "")  # the Dockerfile the error names, kept to read
    assert kept.read_text().splitlines()[4].startswith('RUN ["python3", "-m", "pip"')
    shutil.rmtree(kept.parent)


def test_cli_build_writes_images_json_for_deploy(
    built: dict[str, Any], base_image: str, wheelhouse: Path, corpus_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "images"
    args = ["build", str(corpus_dir / "01_linear.ipynb"), "--base-image", base_image,
            "--wheelhouse", str(wheelhouse), "-o", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["built"] == []  # same content as the fixture's images: re-tagged at most
    doc = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert doc["images"] == result["images"]
    tags = {ref.split(":sha-")[1] for ref in built["01_linear"].images.values()}
    assert {ref.split(":sha-")[1] for ref in doc["images"].values()} == tags


def test_failing_step_in_its_container_is_reported_like_the_notebook(
    docker_client: Any, base_image: str, wheelhouse: Path, corpus_dir: Path,
    manifest: list[dict[str, Any]], tmp_path: Path,
) -> None:  # fmt: skip
    from kale_like.api.analysis import load_pipeline

    expected = manifest_entry(manifest, "29_runtime_failure")["expected_failure"]
    pipeline = load_pipeline(corpus_dir / "29_runtime_failure.ipynb")
    result = docker_run(pipeline, {}, tmp_path, base_image=base_image, wheelhouse=wheelhouse)
    assert result.status == "failed"
    failed = result.failed_step
    assert failed is not None and failed.name == expected["step"]
    assert failed.cell == expected["cell"] and expected["exception"] in (failed.error or "")
    done = [s for s, r in result.steps.items() if r.status == "succeeded"]
    assert done == expected["completed_steps"]
    assert all(result.steps[s].status == "skipped" for s in expected["not_run_steps"])
