"""Focused tests for the classes of faults the adversarial notebooks found (fast, no runs)."""

from __future__ import annotations

import re

from kale_like.analysis import analyze_cell, files
from kale_like.engines import kfp_local_common


def test_a_sample_without_random_state_draws_from_numpy_global_rng() -> None:
    # pandas' DataFrame.sample(n) uses np.random's global state when random_state is None.
    facts = analyze_cell("sub = frame.sample(5)")
    assert "numpy.random" in facts.state_reads and "numpy.random" in facts.state_writes
    for seeded in ("frame.sample(5, random_state=1)", "frame.sample(frac=1, random_state=rs)"):
        facts = analyze_cell(seeded)
        assert not facts.state_reads and not facts.state_writes, seeded


def _flow(*steps: tuple[str, str]) -> dict[str, dict[str, str]]:
    facts = files.pipeline_files([], [(n, [(i, src)]) for i, (n, src) in enumerate(steps)])
    return files.file_flow([n for n, _ in steps], facts).inputs


def test_writing_into_a_folder_an_earlier_step_made_depends_on_that_step() -> None:
    inputs = _flow(
        ("mk", "os.makedirs('out/parts', exist_ok=True)"),
        ("train", "joblib.dump(m, 'out/model.joblib')"),
        ("path", "Path('res').mkdir()"),
        ("note", "Path('res/n.txt').write_text('x')"),
    )
    assert inputs["train"] == {"out": "mk"}
    assert inputs["note"] == {"res": "path"}


def test_a_globbed_folder_depends_on_the_step_that_filled_it() -> None:
    inputs = _flow(
        ("fill", "df.to_csv('out/parts/p0.csv')"),
        ("other", "x = 1"),
        ("read", "parts = glob.glob('out/parts/*.csv')"),
    )
    assert inputs["read"]["out/parts"] == "fill"
    facts = files.step_files([(0, "parts = glob.glob('out/parts/*.csv')")])
    assert "out/parts" not in facts.reads  # a folder is not fingerprinted as a file read


def test_kfp_local_names_any_step_failure_in_its_own_words() -> None:
    log = (
        "    kale_like.runtime.StepFailed: step 'make' cannot save variable 'gen' of type "
        "generator for later steps: TypeError: cannot pickle 'generator' object\n"
        "      fix: materialize it (e.g. list(...)) before the step ends\n"
    )
    assert not kfp_local_common.STEP_FAILED.findall(log)
    text, fix = kfp_local_common.ANY_FAILED.findall(log)[-1]
    assert re.search(r"variable 'gen'", text) and fix.startswith("materialize")


def test_compare_objects_with_identity_equality_by_what_they_pickle_to() -> None:
    import itertools

    from kale_like.runtime.compare import difference

    assert difference(itertools.count(3), itertools.count(3)) is None
    assert difference(itertools.count(3), itertools.count(4)) is not None


def test_compare_figures_by_what_they_draw() -> None:
    # Figures on their own Agg canvases: no pyplot, so the process-wide backend (which
    # in-process step runs in later tests rely on) is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from kale_like.runtime.compare import difference

    f1, f2 = Figure(), Figure()
    a1, a2 = f1.subplots(), f2.subplots()
    for fig in (f1, f2):
        FigureCanvasAgg(fig)
    for ax in (a1, a2):
        ax.plot([1, 2], [3, 1])
    assert difference(f1, f2) is None and difference(a1, a2) is None
    a2.set_title("changed")
    assert "rendered" in (difference(f1, f2) or "")


def test_verify_compares_an_input_with_the_step_that_really_provided_it(tmp_path) -> None:
    import json

    from kale_like.verification.compare import _routed_inputs

    record = {"steps": {"save": {"inputs": {"fig": {"producer": "decorate", "digest": "x"}}}}}
    (tmp_path / "run.json").write_text(json.dumps(record), encoding="utf-8")
    assert _routed_inputs(str(tmp_path)) == {("save", "fig"): "decorate"}
    assert _routed_inputs(str(tmp_path / "missing")) == {}


def test_calling_a_decorated_function_has_its_decorators_effects(tmp_path) -> None:
    from nb_kit import cell, write_notebook

    from kale_like.api.analysis import load_pipeline

    nb = write_notebook(
        tmp_path / "deco.ipynb",
        cell(
            "calls = 0\n\ndef counted(fn):\n    def wrap(*a):\n        global calls\n"
            "        calls += 1\n        return fn(*a)\n    return wrap\n\n"
            "@counted\ndef area(r):\n    return r * r",
            "functions",
        ),
        cell("a = area(2)", "step:compute"),
        cell("n = calls", "step:report"),
    )
    report = load_pipeline(nb).step("report")
    assert dict(report.inputs).get("calls") == "compute"
