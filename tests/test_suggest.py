"""suggest: proposed step tags pass the analysis checks and run to the values of a
top-to-bottom run; the notebook is only written with --in-place, atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from extras import require
from nb_kit import cell, write_notebook
from nbformat.v4 import new_markdown_cell as md

from kale_like.api.analysis import check_pipeline, load_pipeline
from kale_like.api.execution import run
from kale_like.api.suggestions import GUARDED, suggest
from kale_like.cli import main
from kale_like.suggest_cost import width

CSV = "a,b,y\n" + "\n".join(f"{i},{(i * 7) % 5},{i % 2}" for i in range(60)) + "\n"

PREP = [
    cell("import pandas as pd\nimport numpy as np"),
    cell("from sklearn.linear_model import LogisticRegression\n"
         "from sklearn.tree import DecisionTreeClassifier"),
    cell("SEED = 3\nTEST_FRACTION = 0.25"),
    cell("def add_ratio(frame):\n    frame = frame.copy()\n"
         "    frame['r'] = frame['a'] / (frame['b'] + 1)\n    return frame"),
]  # fmt: skip
LOAD = cell("df = pd.read_csv('data.csv')")
SHOW = cell("df.head()")
CLEAN = cell("df = df.dropna()\ndf['a'] = df['a'].astype(float)")
FEATURES = cell(
    "feats = add_ratio(df)\nX = feats[['a', 'b', 'r']].values\ny = feats['y'].values\n"
    "n_test = int(len(X) * TEST_FRACTION)\nX_train, X_test = X[n_test:], X[:n_test]\n"
    "y_train, y_test = y[n_test:], y[:n_test]"
)
MODEL_A = cell(
    "lr = LogisticRegression(max_iter=200)\nlr.fit(X_train, y_train)\n"
    "acc_lr = float(lr.score(X_test, y_test))"
)
MODEL_B = cell(
    "tree = DecisionTreeClassifier(random_state=SEED)\ntree.fit(X_train, y_train)\n"
    "acc_tree = float(tree.score(X_test, y_test))"
)
COMPARE = cell("best = 'lr' if acc_lr >= acc_tree else 'tree'\nsummary = [best, acc_lr, acc_tree]")
FINALS = ["best", "summary", "acc_lr", "acc_tree"]


def kaggle(tmp_path: Path, *cells: Any, name: str = "kaggle.ipynb") -> Path:
    (tmp_path / "data.csv").write_text(CSV, encoding="utf-8")
    return write_notebook(tmp_path / name, *cells)


def top_to_bottom(nb: Path, names: list[str]) -> dict[str, Any]:
    """Ground truth: every code cell in order, in one namespace, in the notebook's folder."""
    data = json.loads(nb.read_text(encoding="utf-8"))
    ns: dict[str, Any] = {}
    here = os.getcwd()
    os.chdir(nb.parent)
    try:
        for c in data["cells"]:
            if c["cell_type"] == "code" and "skip" not in c["metadata"].get("tags", []):
                exec(compile("".join(c["source"]), str(nb), "exec"), ns)  # noqa: S102
    finally:
        os.chdir(here)
    return {n: ns[n] for n in names}


def assert_checks_pass(result: Any, original: Path) -> None:
    """The proposal passes the checks hand-tagged notebooks get, with no new warning."""
    check_pipeline(result.pipeline)
    before = {(d.kind, d.cell, d.line) for d in load_pipeline(original).diagnostics}
    new = [
        d
        for d in result.pipeline.diagnostics
        if d.kind in GUARDED and (d.kind, d.cell, d.line) not in before
    ]
    assert not new, new


def run_values(nb: Path, tmp_path: Path, names: list[str]) -> dict[str, Any]:
    result = run(nb, run_root=tmp_path / "runs", keep_values=True)
    assert result.status == "succeeded", {n: s.error for n, s in result.steps.items()}
    return {n: result.values[n] for n in names}


def test_kaggle_notebook_two_models_in_parallel_and_equal_values(tmp_path: Path) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, SHOW, CLEAN, FEATURES, MODEL_A, MODEL_B, COMPARE)
    before = nb.read_bytes()
    out = tmp_path / "tagged.ipynb"
    result = suggest(nb, write=out)
    assert nb.read_bytes() == before  # --write leaves the notebook untouched
    assert_checks_pass(result, nb)
    assert result.roles == {0: "imports", 1: "imports", 2: "pipeline-parameters", 3: "functions"}
    steps = {s.name: s for s in result.pipeline.steps}
    trains = [s for s in steps.values() if any(c in s.cells for c in (8, 9))]
    assert len(trains) == 2 and trains[0].name != trains[1].name  # one step per model
    assert trains[0].name not in trains[1].after and trains[1].name not in trains[0].after
    assert result.width == 2
    assert all("X_train" in dict(t.inputs) for t in trains)  # the variables on the edges
    assert any("runs in parallel" in r for b in result.boundaries for r in b["reasons"])
    # The tagged copy analyses to the same pipeline and runs to top-to-bottom values.
    assert [s.name for s in load_pipeline(out).steps] == [s.name for s in result.pipeline.steps]
    assert run_values(out, tmp_path, FINALS) == top_to_bottom(nb, FINALS)


def test_headings_name_the_steps_and_mark_boundaries(tmp_path: Path) -> None:
    nb = kaggle(
        tmp_path,
        *PREP,
        md("# Titanic-style study"),
        md("## Load the data"),
        LOAD,
        md("## Clean"),
        CLEAN,
        md("## Features"),
        FEATURES,
        md("## Logistic regression"),
        MODEL_A,
        md("## Decision tree"),
        MODEL_B,
        md("## Compare"),
        COMPARE,
    )
    result = suggest(nb)
    assert_checks_pass(result, nb)
    names = [s.name for s in result.pipeline.steps]
    assert names == [
        "load_the_data", "clean", "features", "logistic_regression", "decision_tree", "compare",
    ]  # fmt: skip
    assert any("heading 'Clean'" in r for b in result.boundaries for r in b["reasons"])
    tagged = tmp_path / "tagged.ipynb"
    suggest(nb, write=tagged)
    assert run_values(tagged, tmp_path, FINALS) == top_to_bottom(nb, FINALS)


def test_partly_tagged_notebook_keeps_its_tags(tmp_path: Path) -> None:
    fixed_a = cell(MODEL_A.source, "step:fit_lr", "limit:cpu:1")
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN, FEATURES, fixed_a, MODEL_B, COMPARE)
    result = suggest(nb)
    assert_checks_pass(result, nb)
    assert 7 not in result.tags  # a hand-tagged cell is never retagged
    data = result.notebook_json
    assert data["cells"][7]["metadata"]["tags"] == ["step:fit_lr", "limit:cpu:1"]
    steps = {s.name: s for s in result.pipeline.steps}
    assert steps["fit_lr"].cells == (7,)
    assert steps["fit_lr"].settings.to_json()  # its settings survive
    tagged = tmp_path / "tagged.ipynb"
    suggest(nb, write=tagged)
    assert run_values(tagged, tmp_path, FINALS) == top_to_bottom(nb, FINALS)


def test_tiny_notebook_stays_one_step_and_says_why(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "tiny.ipynb", cell("x = 2\ny = x * 21"), cell("z = y + 1"))
    result = suggest(nb)
    assert len(result.pipeline.steps) == 1
    assert result.single_step and "parallel" in result.single_step
    assert "one step only" in result.to_text()


def test_chain_without_headings_is_one_step_but_max_steps_limits(tmp_path: Path) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN, FEATURES, MODEL_A, MODEL_B, COMPARE)
    assert len(suggest(nb, max_steps=1).pipeline.steps) == 1
    assert suggest(nb, max_steps=1).single_step == "--max-steps 1"
    assert len(suggest(nb, max_steps=2).pipeline.steps) <= 2


def test_timings_of_a_previous_run_are_used(tmp_path: Path) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN, FEATURES, MODEL_A, MODEL_B, COMPARE)
    runs = tmp_path / "runs"
    first = run(nb, run_root=runs)  # untagged: one step; its cells are timed
    assert first.status == "succeeded"
    result = suggest(nb, run_root=runs)
    assert result.timings_run == first.run_id and result.measured
    assert "measured by run" in result.to_text()
    # Every step is shorter than an hour: --min-step-seconds 3600 merges them all.
    assert len(suggest(nb, run_root=runs, min_step_seconds=3600).pipeline.steps) == 1


def test_in_place_writes_atomically_and_keeps_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN, FEATURES, MODEL_A, MODEL_B, COMPARE)
    os.chmod(nb, 0o640)
    before = nb.read_bytes()
    real_replace = os.replace

    def crash(*args: Any) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        suggest(nb, in_place=True)
    assert nb.read_bytes() == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "kaggle.ipynb"]
    monkeypatch.setattr(os, "replace", real_replace)
    result = suggest(nb, in_place=True)
    assert result.written == str(nb)
    assert stat.S_IMODE(nb.stat().st_mode) == 0o640
    data = json.loads(nb.read_text(encoding="utf-8"))
    assert data["cells"][4]["metadata"]["tags"] == result.tags[4]
    assert data["cells"][4]["source"] == json.loads(before)["cells"][4]["source"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "kaggle.ipynb"]
    check_pipeline(load_pipeline(nb))


def test_cli_json_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN, FEATURES, MODEL_A, MODEL_B, COMPARE)
    out = tmp_path / "copy.ipynb"
    assert main(["suggest", str(nb), "--json", "--write", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["width"] == 2 and data["written"] == str(out)
    assert {s["name"] for s in data["steps"]} == {s.name for s in load_pipeline(out).steps}


@pytest.mark.parametrize(
    "args, kind",
    [
        (["--max-steps", "0"], "max-steps"),
        (["--min-step-seconds", "-1"], "min-step-seconds"),
        (["--write", "SELF"], "the notebook itself"),
        (["--write", "out.txt"], ".ipynb"),
        (["--write", "x.ipynb", "--in-place"], "not allowed"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], kind: str
) -> None:
    nb = kaggle(tmp_path, *PREP, LOAD, CLEAN)
    before = nb.read_bytes()
    args = [str(nb) if a == "SELF" else a for a in args]
    assert main(["suggest", str(nb), *args]) == 2
    assert kind in capsys.readouterr().err
    assert nb.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "kaggle.ipynb"]


@pytest.mark.parametrize(
    "content, kind",
    [
        ("{not json", "not valid JSON"),
        (None, "syntax error"),
        ("missing", "no such notebook"),
    ],
)
def test_bad_notebooks_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, kind: str
) -> None:
    nb = tmp_path / "bad.ipynb"
    if content is None:
        write_notebook(nb, cell("x = 1"), cell("def broken(:\n    pass"))
    elif content != "missing":
        nb.write_text(content, encoding="utf-8")
    assert main(["suggest", str(nb), "--write", str(tmp_path / "out.ipynb")]) == 2
    err = capsys.readouterr().err
    assert kind in err and "Traceback" not in err
    assert not (tmp_path / "out.ipynb").exists()


# ------------------------------------------------------------------ the shared corpus

KEEP = {"skip", "pipeline-parameters", "parameters", "injected-parameters", "pipeline-metrics"}


def strip_tags(src: Path, dst: Path) -> None:
    """The untagged version of a corpus notebook: step/prev/imports/functions/settings tags
    removed; parameters and metrics cells (and skip cells, which hold non-Python) kept."""
    data = json.loads(src.read_text(encoding="utf-8"))
    for c in data["cells"]:
        tags = c.get("metadata", {}).get("tags")
        if tags is None:
            continue
        kept = [t for t in tags if t in KEEP]
        if kept:
            c["metadata"]["tags"] = kept
        else:
            del c["metadata"]["tags"]
    dst.write_text(json.dumps(data), encoding="utf-8")


def _valid_corpus() -> list[str]:
    from corpus_kit import load_manifest

    try:
        return [e["file"] for e in load_manifest() if e["valid"]]
    except OSError:
        return []


def _dag_width(p: Any) -> int:
    return width([s.name for s in p.steps], {s.name: set(s.after) for s in p.steps})


def test_corpus_untagged_suggestions_pass_checks_and_keep_parallelism(
    corpus_dir: Path, tmp_path: Path
) -> None:
    names = _valid_corpus()
    assert names
    wide_enough = 0
    for name in names:
        shutil.copy(corpus_dir / name, tmp_path / name)  # side files stay in tmp
        untagged = tmp_path / f"untagged_{name}"
        strip_tags(corpus_dir / name, untagged)
        result = suggest(untagged)
        assert_checks_pass(result, untagged)
        wide_enough += result.width >= _dag_width(load_pipeline(tmp_path / name))
    assert wide_enough >= 0.8 * len(names), (wide_enough, len(names))


@pytest.mark.slow
@pytest.mark.parametrize("name", _valid_corpus())
def test_corpus_suggestion_verifies(name: str, corpus_dir: Path, tmp_path: Path) -> None:
    require("papermill")
    from kale_like.verification import verify

    untagged = tmp_path / name
    strip_tags(corpus_dir / name, untagged)
    tagged = tmp_path / f"suggested_{name}"
    suggest(untagged, write=tagged)
    digest = hashlib.sha256(untagged.read_bytes()).hexdigest()
    report = verify(tagged, run_root=tmp_path / "runs")
    assert report.ok, report.to_text()
    assert hashlib.sha256(untagged.read_bytes()).hexdigest() == digest
