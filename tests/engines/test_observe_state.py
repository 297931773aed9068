"""Global RNG state drawn from where the analysis cannot see it: runs equal a top-to-bottom
run with the same seed, or fail naming the kind, the steps and a fix that works.

Ground truth: the notebook's code cells executed in order in one namespace after
``seed_all(SEED)`` (what ``verify`` does); the pipeline's steps start from the same seed
(``KALE_LIKE_SEED``). Invisible draws: pandas' ``sample()`` reached through ``getattr`` inside
a ``functions`` cell helper (the analysis knows ``df.sample()`` by name, not through getattr)
and ``check_random_state(None)`` draw from NumPy's global RNG.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, edit_cell, write_notebook

from kale_like.api.execution import run
from kale_like.errors import cell_label  # how messages number cells
from kale_like.runtime.state import SEED_ENV, seed_all

SEED = 1234
Cells = list[tuple[str, tuple[str, ...]]]

IMPORTS = ("import numpy as np\nimport pandas as pd", ("imports",))
# A draw the analysis does not see: pandas' sample() without random_state, through getattr
# (as a library drawing internally would).
HELPER = ("def shuffle_rows(df):\n    return getattr(df, 'sam' + 'ple')(frac=1)", ("functions",))
FRAME = "pd.DataFrame({'a': range(20)})"


@pytest.fixture(autouse=True)
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, str(SEED))


def build(tmp_path: Path, name: str, cells: Cells) -> tuple[Path, dict[str, Any]]:
    nb = write_notebook(tmp_path / f"{name}.ipynb", *(cell(src, *tags) for src, tags in cells))
    return nb, top_to_bottom(cells)


def top_to_bottom(cells: Cells) -> dict[str, Any]:
    seed_all(SEED)
    ns: dict[str, Any] = {}
    for src, tags in cells:
        if "pipeline-metrics" not in tags:
            exec(src, ns)
    return ns


def record(result: Any) -> dict[str, Any]:
    return json.loads((Path(result.run_dir) / "run.json").read_text())["steps"]


def check(result: Any, truth: dict[str, Any]) -> None:
    assert result.status == "succeeded", {
        n: (s.status, s.error) for n, s in result.steps.items() if s.error
    }
    assert result.metrics and result.metrics == {k: truth[k] for k in result.metrics}


SKLEARN: Cells = [
    (
        "import numpy as np\nfrom sklearn import datasets\n"
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.ensemble import RandomForestClassifier",
        ("imports",),
    ),
    ("x, y = datasets.load_iris(return_X_y=True)", ("step:load_transform_data",)),
    ("x_trn, x_tst, y_trn, y_tst = train_test_split(x, y, test_size=.2)", ()),
    (
        "model = RandomForestClassifier(n_estimators=20, max_depth=2)",
        ("step:train_model", "prev:load_transform_data"),
    ),
    ("model.fit(x_trn, y_trn)\nfirst = int(model.estimators_[0].random_state)", ()),
    ("score = float(model.score(x_tst, y_tst))", ("step:evaluate_model", "prev:train_model")),
    ("print(first)\nprint(score)", ("pipeline-metrics",)),
]

# The same, with draws the analysis cannot see: a helper drawing through
# check_random_state(None), and an estimator built from a ``**`` of settings.
SKLEARN_HIDDEN: Cells = [
    SKLEARN[0],
    (
        "from sklearn.utils import check_random_state\n\n"
        "def split(x, y):\n    idx = check_random_state(None).permutation(len(x))\n"
        "    a, b = idx[:120], idx[120:]\n    return x[a], x[b], y[a], y[b]",
        ("functions",),
    ),
    ("x, y = datasets.load_iris(return_X_y=True)", ("step:load_transform_data",)),
    ("x_trn, x_tst, y_trn, y_tst = split(x, y)\nspec = dict(n_estimators=20, max_depth=2)", ()),
    (
        "model = RandomForestClassifier(**spec)\nmodel.fit(x_trn, y_trn)\n"
        "first = int(model.estimators_[0].random_state)",
        ("step:train_model", "prev:load_transform_data"),
    ),
    ("print(first)", ("pipeline-metrics",)),
]


@pytest.mark.parametrize("name", ["sklearn", "sklearn_hidden"])
def test_sklearn_split_then_fit_equals_top_to_bottom(name: str, tmp_path: Path) -> None:
    cells = SKLEARN if name == "sklearn" else SKLEARN_HIDDEN
    nb, truth = build(tmp_path, name, cells)
    result = run(nb, run_root=tmp_path / "root")
    check(result, truth)


def test_hidden_draw_is_routed_with_a_notice(tmp_path: Path) -> None:
    nb, truth = build(tmp_path, "hidden", SKLEARN_HIDDEN)
    events: list[Any] = []
    result = run(nb, run_root=tmp_path / "root", progress=events.append)
    check(result, truth)
    expected = (
        "step train_model draws from numpy.random state, which load_transform_data changed "
        f"({cell_label(3)}) although the analysis did not see it; train_model now receives it "
        "from load_transform_data"
    )
    assert any(e.message and expected in e.message for e in events), [e.message for e in events]
    steps = record(result)
    assert steps["train_model"]["state_replanned"] == {"numpy.random": "load_transform_data"}
    writer = [w for w in steps["load_transform_data"]["observed"] if w.get("state")]
    assert writer == [
        {
            "variable": "numpy.random",
            "how": "changed",
            "cell": 3,
            "later": ["train_model"],
            "prelude": False,
            "saved": False,
            "state": True,
        }
    ]


SEED_THEN_HIDDEN: Cells = [
    IMPORTS,
    HELPER,
    ("np.random.seed(0)\nstart = 1", ("step:seed",)),
    ("other = start + 1", ("step:middle",)),
    (f"df = {FRAME}\norder = [int(v) for v in shuffle_rows(df)['a']]", ("step:shuffle",)),
    ("after = float(np.random.rand())", ("step:after", "prev:shuffle")),
    ("print(order)\nprint(after)", ("pipeline-metrics",)),
]


def test_seed_in_step_one_and_invisible_draw_in_step_three(tmp_path: Path) -> None:
    nb, truth = build(tmp_path, "seeded", SEED_THEN_HIDDEN)
    result = run(nb, run_root=tmp_path / "root")
    check(result, truth)
    steps = record(result)
    assert steps["shuffle"]["state_replanned"] == {"numpy.random": "seed"}
    assert steps["middle"]["state_replanned"] == {}  # it does not draw
    # Cached: the same, from the cache entries (the re-planned run included).
    again = run(nb, run_root=tmp_path / "root")
    check(again, truth)
    assert all(s.status == "cached" for s in again.steps.values())


def test_only_the_steps_that_draw_chain(tmp_path: Path) -> None:
    classifiers = [(f"w{i} = {i}", (f"step:clf_{i}", "prev:prepare")) for i in range(5)]
    # clf_1 and clf_3 draw where the analysis cannot see it; the others never draw.
    classifiers[1] = (f"d1 = [int(v) for v in shuffle_rows({FRAME})['a']]", classifiers[1][1])
    classifiers[3] = (
        "from sklearn.utils import check_random_state\nd3 = float(check_random_state(None).rand())",
        classifiers[3][1],
    )
    cells: Cells = [
        IMPORTS,
        HELPER,
        ("np.random.seed(7)\nbase = 1", ("step:prepare",)),
        *classifiers,
        ("print(d1)\nprint(d3)", ("pipeline-metrics",)),
    ]
    nb, truth = build(tmp_path, "fan", cells)
    result = run(nb, run_root=tmp_path / "root", jobs=2)
    check(result, truth)
    steps = record(result)
    assert steps["clf_3"]["state_replanned"] == {"numpy.random": "clf_1"}
    assert steps["clf_3"]["state_inputs"]["numpy.random"]["producer"] == "clf_1"
    for quiet in ("clf_0", "clf_1", "clf_2", "clf_4"):  # no new edge: still parallel
        assert steps[quiet]["state_replanned"] == {}, quiet
        assert steps[quiet]["state_inputs"]["numpy.random"]["producer"] == "prepare"
        assert steps[quiet]["inputs_replanned"] == {}


KFP_WRITER: Cells = [
    IMPORTS,
    HELPER,
    (f"df = {FRAME}\norder = [int(v) for v in shuffle_rows(df)['a']]", ("step:shuffle",)),
    ("after = float(np.random.rand())", ("step:draw", "prev:shuffle")),
    ("print(after)", ("pipeline-metrics",)),
]


def test_kfp_local_fails_naming_the_state_and_the_fix_works(tmp_path: Path) -> None:
    nb, truth = build(tmp_path, "kfpw", KFP_WRITER)
    result = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    assert result.status == "failed"
    failed = result.failed_step
    assert failed is not None and failed.name == "shuffle", failed
    assert f"changed numpy.random state ({cell_label(2)}) although the analysis did not" in str(
        failed.error
    ), failed.error
    assert "draw" in str(failed.error)
    # The fix the message names: the line that makes the analysis see the change.
    line = "np.random.set_state(np.random.get_state())"
    edit_cell(nb, 2, lambda src: src + "\n" + line)
    fixed = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    check(
        fixed,
        top_to_bottom([*KFP_WRITER[:2], (KFP_WRITER[2][0] + "\n" + line, ()), *KFP_WRITER[3:]]),
    )
    assert fixed.metrics == {"after": truth["after"]}


KFP_READER: Cells = [
    IMPORTS,
    HELPER,
    ("np.random.seed(5)\nstart = 1", ("step:seed",)),
    (
        f"order = [int(v) for v in shuffle_rows({FRAME})['a']]\n"
        "mixed = sum(i * v for i, v in enumerate(order))",
        ("step:shuffle",),
    ),
    ("print(mixed)", ("pipeline-metrics",)),
]


def test_kfp_local_fails_a_hidden_drawer_and_the_fix_works(tmp_path: Path) -> None:
    nb, truth = build(tmp_path, "kfpr", KFP_READER)
    result = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    assert result.status == "failed"
    failed = result.failed_step
    assert failed is not None and failed.name == "shuffle", failed
    assert f"draws from numpy.random state ({cell_label(3)}) although the analysis did not" in str(
        failed.error
    ), failed.error
    assert "seed changes it before" in str(failed.error)
    line = "np.random.set_state(np.random.get_state())"
    edit_cell(nb, 3, lambda src: line + "\n" + src)
    fixed = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    check(fixed, truth)


def test_kfp_local_passes_on_nothing_from_an_unseeded_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing seeds numpy's global RNG: the hidden draw changes OS entropy, which no run,
    # top to bottom or not, can repeat (as a library drawing from `random` at import does).
    monkeypatch.delenv(SEED_ENV)
    nb, _ = build(tmp_path, "entropy", KFP_WRITER)
    result = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    assert result.status == "succeeded", result.failed_step
    # Once the step seeds the state itself (unseen by the analysis, as the draw), its end
    # state is repeatable: passing it on matters.
    reseed = "getattr(np.random, 'se' + 'ed')(3)\nagain = list(shuffle_rows(df)['a'])"
    edit_cell(nb, 2, lambda src: src + "\n" + reseed)
    seeded_run = run(nb, run_root=tmp_path / "root", engine="kfp-local")
    assert seeded_run.status == "failed"
    failed = seeded_run.failed_step
    assert failed is not None and failed.name == "shuffle", failed
    assert "changed numpy.random state" in str(failed.error), failed.error
