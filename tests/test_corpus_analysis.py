"""Every corpus notebook analysed against the manifest's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from corpus_kit import load_manifest

from kale_like.api.analysis import load_pipeline
from kale_like.errors import InputError
from kale_like.model import Pipeline

ENTRIES = load_manifest()
VALID = [e for e in ENTRIES if e["valid"]]
INVALID = [e for e in ENTRIES if not e["valid"]]

# Where the manifest contradicts its own rule ("each metric is attached to the last step
# that writes it", 20_metrics_multi_step): in 21_skip `report` only reads `largest`, which
# `process` writes. kale_like follows the rule, so the manifest's answer is a strict xfail
# there (an XPASS fails: the analysis changed), and the rule's answer is pinned on its own.
MANIFEST_AGAINST_ITS_RULE = {
    ("21_skip.ipynb", "largest"): (
        "the manifest names `report`, which only reads `largest`; its own rule (the last "
        "writer, 20_metrics_multi_step) names `process`"
    ),
}


def _expectations(entry: dict[str, Any]) -> dict[str, Any]:
    return entry if entry["valid"] else entry["if_upgraded"]


def _ancestors(p: Pipeline, step: str) -> set[str]:
    after = {s.name: s.after for s in p.steps}
    seen: set[str] = set()
    todo = list(after[step])
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo.extend(after[s])
    return seen


@pytest.fixture(scope="module")
def pipelines(corpus_dir: Path) -> dict[str, Pipeline]:
    return {
        e["file"]: load_pipeline(corpus_dir / e["file"])
        for e in ENTRIES
        if e["valid"] or e.get("if_upgraded")
    }


CASES = [e for e in ENTRIES if e["valid"] or e.get("if_upgraded")]
IDS = [e["file"] for e in CASES]


@pytest.mark.parametrize("entry", CASES, ids=IDS)
def test_steps(entry: dict[str, Any], pipelines: dict[str, Pipeline]) -> None:
    exp, p = _expectations(entry), pipelines[entry["file"]]
    if exp.get("steps"):
        assert p.step_names == exp["steps"]
    assert len(p.steps) == exp.get("step_count", len(exp["steps"]))
    for step in p.steps:  # after only names steps that come earlier in the order
        assert set(step.after) <= set(p.step_names[: p.step_names.index(step.name)])


@pytest.mark.parametrize("entry", CASES, ids=IDS)
def test_dependencies(entry: dict[str, Any], pipelines: dict[str, Pipeline]) -> None:
    exp, p = _expectations(entry), pipelines[entry["file"]]
    for step, deps in exp.get("must_depend", {}).items():
        assert set(deps) <= _ancestors(p, step), step
    for step, deps in exp.get("must_not_depend", {}).items():
        assert not set(deps) & _ancestors(p, step), step


@pytest.mark.parametrize("entry", CASES, ids=IDS)
def test_passing(entry: dict[str, Any], pipelines: dict[str, Pipeline]) -> None:
    exp, p = _expectations(entry), pipelines[entry["file"]]
    for consumer, producers in exp.get("must_pass", {}).items():
        inputs = p.step(consumer).input_map
        for producer, names in producers.items():
            for name in names:
                assert inputs.get(name) == producer, f"{consumer}.{name}"
                assert name in p.step(producer).outputs, f"{producer} saves {name}"
    for consumer, names in exp.get("must_not_pass", {}).items():
        inputs = p.step(consumer).input_map
        assert not set(names) & set(inputs), consumer
    params = set(exp.get("parameters", {}))
    for step in p.steps:
        assert not params & set(step.input_map), "parameters are never inputs"


@pytest.mark.parametrize("entry", CASES, ids=IDS)
def test_parameters_and_metrics(entry: dict[str, Any], pipelines: dict[str, Pipeline]) -> None:
    exp, p = _expectations(entry), pipelines[entry["file"]]
    if "parameters" in exp:
        assert {q.name: q.default for q in p.parameters} == exp["parameters"]
    if "metrics" in exp:
        assert sorted(m.name for m in p.metrics) == sorted(exp["metrics"])


def _producer_case(entry: dict[str, Any], metric: str, step: str) -> Any:
    why = MANIFEST_AGAINST_ITS_RULE.get((entry["file"], metric))
    marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
    return pytest.param(entry, metric, step, id=f"{entry['file']}:{metric}", marks=marks)


PRODUCER_CASES = [
    _producer_case(e, metric, step)
    for e in CASES
    for metric, step in _expectations(e).get("metric_producers", {}).items()
]


@pytest.mark.parametrize(("entry", "metric", "step"), PRODUCER_CASES)
def test_metric_producers(
    entry: dict[str, Any], metric: str, step: str, pipelines: dict[str, Pipeline]
) -> None:
    p = pipelines[entry["file"]]
    assert {m.name: m.step for m in p.metrics}[metric] == step
    assert metric in p.step(step).metrics
    assert metric in p.step(step).outputs


def test_a_metric_goes_to_its_last_writer_where_the_manifest_says_otherwise(
    pipelines: dict[str, Pipeline],
) -> None:
    p = pipelines["21_skip.ipynb"]  # the rule's answer for MANIFEST_AGAINST_ITS_RULE
    assert {m.name: m.step for m in p.metrics}["largest"] == "process"
    assert "largest" in p.step("process").metrics and "largest" in p.step("process").outputs


@pytest.mark.parametrize("entry", CASES, ids=IDS)
def test_settings_and_diagnostics(entry: dict[str, Any], pipelines: dict[str, Pipeline]) -> None:
    exp, p = _expectations(entry), pipelines[entry["file"]]
    for step, settings in exp.get("step_settings", {}).items():
        assert p.step(step).settings.to_json() == settings
    kinds = {d.kind for d in p.diagnostics}
    assert set(exp.get("expected_diagnostics", [])) <= kinds
    assert not [d for d in p.diagnostics if d.severity == "error"]
    unexpected = [
        d.format()
        for d in p.diagnostics
        if d.severity == "warning" and d.kind not in exp.get("expected_diagnostics", [])
    ]
    assert unexpected == []


def test_every_entry_is_checked() -> None:
    assert len(CASES) + len([e for e in INVALID if not e.get("if_upgraded")]) == len(ENTRIES)


@pytest.mark.parametrize(
    "entry", [e for e in INVALID if not e.get("if_upgraded")], ids=lambda e: e["file"]
)
def test_invalid(entry: dict[str, Any], corpus_dir: Path) -> None:
    with pytest.raises(InputError) as info:
        load_pipeline(corpus_dir / entry["file"])
    err = info.value
    assert err.kind == entry["error"]
    assert err.cell == entry["cell"]
    if entry.get("tag"):
        assert err.tag == entry["tag"]
    assert err.exit_code == 2
    assert str(corpus_dir / entry["file"]) in str(err)


def test_cycle_is_named(corpus_dir: Path) -> None:
    with pytest.raises(InputError, match=r"a -> b -> a"):
        load_pipeline(corpus_dir / "31_invalid_cycle.ipynb")


def test_unknown_prev_lists_known_steps(corpus_dir: Path) -> None:
    with pytest.raises(InputError, match=r"load, train"):
        load_pipeline(corpus_dir / "32_invalid_unknown_prev.ipynb")


def test_syntax_error_names_line(corpus_dir: Path) -> None:
    with pytest.raises(InputError) as info:
        load_pipeline(corpus_dir / "37_invalid_syntax_error.ipynb")
    assert info.value.line == 1


def test_bad_cells_name_line(corpus_dir: Path) -> None:
    for name, line in (("38_invalid_bad_metrics.ipynb", 2), ("39_invalid_bad_parameters.ipynb", 2)):
        with pytest.raises(InputError) as info:
            load_pipeline(corpus_dir / name)
        assert info.value.line == line


def test_state_is_carried(pipelines: dict[str, Pipeline]) -> None:
    seeds = pipelines["09_seeds.ipynb"]
    assert dict(seeds.step("draw").state_inputs)["random"] == "seed"
    assert dict(seeds.step("report").state_inputs)["random"] == "draw_more"
    assert "random" in seeds.step("draw").state_outputs
    glob = pipelines["28_global_state.ipynb"]
    check = dict(glob.step("check").state_inputs)
    assert check == {"os.environ": "configure", "sys.path": "configure", "warnings": "configure"}
    assert "global-state" in {d.kind for d in glob.diagnostics}


def test_untagged_notebook_is_one_step(pipelines: dict[str, Pipeline]) -> None:
    p = pipelines["04_untagged.ipynb"]
    assert p.steps[0].cells == (1, 2, 4, 5)
    assert p.steps[0].name == "untagged"


def test_metadata_and_modules(pipelines: dict[str, Pipeline]) -> None:
    p = pipelines["01_linear.ipynb"]
    assert p.name == "linear-demo"
    assert p.experiment == "corpus"
    assert p.description == "Linear three-step corpus pipeline"
    assert p.prelude.import_cells == (1,)
    assert all("json" in s.modules for s in p.steps)
    assert len(p.notebook_digest) == 64
    sk = pipelines["26_sklearn_model.ipynb"]
    assert "sklearn" in sk.step("train").modules
