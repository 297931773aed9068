"""Kale's own published examples (kubeflow-kale 2.3.0's sdist) compile unchanged, and those
that need no GPU, network, data download or cluster run with ``--verify`` OK.

The notebooks are fetched by ``scripts/fetch_kale_examples.py`` into ``.cache/kale`` (set-up
does it; CI requires them with ``KALE_LIKE_REQUIRE_KALE_EXAMPLES=1``). The expected steps
come from the tags themselves, read here independently of the analysis: every distinct
non-empty ``step:``/``block:`` name is a step (Kale's rule), and a ``notebook:NAME`` cell
brings the steps of ``NAME.ipynb``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kale_like.api.compilation import compile as compile_notebook

# The 18 example notebooks of the sdist (Kale's own test notebooks are not examples).
EXAMPLES = [
    "base/candies_sharing.ipynb",
    "composition/main.ipynb",
    "composition/main_mixed.ipynb",
    "composition/notebook_a.ipynb",
    "composition/notebook_b.ipynb",
    "composition/notebook_c.ipynb",
    "dog-breed-classification/dog-breed-v2.ipynb",
    "gen_ai/finetuning_fnmodel.ipynb",
    "iris/sklearn/iris.ipynb",
    "iris/xgboost/iris.ipynb",
    "openvaccine-kaggle-competition/open-vaccine.ipynb",
    "pytorch-classification/cifar10_classification.ipynb",
    "rag/portable_rag_langchain.ipynb",
    "serving/sklearn/iris.ipynb",
    "serving/xgboost/iris.ipynb",
    "taxi-cab-classification/read_data.ipynb",
    "taxi-cab-classification/taxicab_pipeline.ipynb",
    "titanic-ml-dataset/titanic_dataset_ml.ipynb",
]
# Those that run here: no GPU, no network, no data download, no cluster. (notebook_b and
# notebook_c read variables only notebook_a defines: they run composed, in main*.)
RUNNABLE = [
    "base/candies_sharing.ipynb",
    "composition/main.ipynb",
    "composition/main_mixed.ipynb",
    "composition/notebook_a.ipynb",
    "iris/sklearn/iris.ipynb",
    "serving/sklearn/iris.ipynb",
]


def _copy(kale_examples: Path, name: str, tmp_path: Path) -> Path:
    """The example's folder copied (notebooks beside it included): the cache stays clean."""
    src = kale_examples / name
    dest = tmp_path / "ex"
    shutil.copytree(src.parent, dest)
    return dest / src.name


def _step_names(path: Path, seen: frozenset[Path] = frozenset()) -> list[str]:
    """Kale's steps of a notebook, from its tags alone."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for tag in cell.get("metadata", {}).get("tags", []):
            keyword, _, rest = tag.partition(":")
            if keyword in ("step", "block") and rest and rest not in names:
                names.append(rest)
            elif keyword == "notebook" and rest:
                ref = cell["metadata"].get("notebook_path") or f"{rest}.ipynb"
                sub = (path.parent / ref).resolve()
                if sub not in seen:
                    inner = _step_names(sub, seen | {path.resolve()})
                    names += [n for n in inner if n not in names]
    return names


def test_the_sdist_holds_the_eighteen_examples(kale_examples: Path) -> None:
    found = sorted(str(p.relative_to(kale_examples)) for p in kale_examples.rglob("*.ipynb"))
    assert found == sorted(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_kale_example_compiles(name: str, kale_examples: Path, tmp_path: Path) -> None:
    nb = _copy(kale_examples, name, tmp_path)
    before = nb.read_bytes()
    result = compile_notebook(nb, tmp_path / "out")
    assert result.yaml_path.exists() and result.dsl_path.exists()
    expected = _step_names(nb)
    got = [s.name for s in result.pipeline.steps]
    if expected:
        assert sorted(got) == sorted(expected)
    else:  # no step tags at all: one step
        assert len(got) == 1
    assert nb.read_bytes() == before  # the user's notebook is never modified
    assert not any(d.severity == "error" for d in result.pipeline.diagnostics)


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_runnable_kale_examples_run_and_verify(
    name: str, kale_examples: Path, tmp_path: Path
) -> None:
    from kale_like.verification import verify

    nb = _copy(kale_examples, name, tmp_path)
    report = verify(nb, run_root=tmp_path / "runs")
    assert report.run_status == "succeeded", report.to_text()
    assert report.ok, report.to_text()
    assert report.compared  # values really were compared
