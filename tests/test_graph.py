"""Step grouping, prev: checks, deterministic topological order and named cycles."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kale_like import graph
from kale_like.errors import AnalysisError, TagError
from kale_like.notebook import read_notebook


def source(*cells: tuple[str, list[str]]):
    meta = {"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}}
    nb = new_notebook(
        cells=[new_code_cell(s, metadata={"tags": t}) for s, t in cells], metadata=meta
    )
    return read_notebook(nb)


def test_layout_roles() -> None:
    lay = graph.layout(source(("import os", ["imports"]), ("x = 1", ["step:a"]),
                              ("def f(): pass", ["functions"]), ("y = 1", []),
                              ("n = 1", ["parameters"]), ("z = 1", ["skip"]),
                              ("print(x)", ["pipeline-metrics"])), "main")
    assert [s.name for s in lay.steps] == ["a"]
    assert [c.index for c in lay.steps[0].cells] == [1, 3]
    assert [c.index for c in lay.special["imports"]] == [0]
    assert [c.index for c in lay.special["functions"]] == [2]
    assert [c.index for c in lay.special["pipeline-parameters"]] == [4]
    assert [c.index for c in lay.skipped] == [5]
    assert not lay.implicit


def test_same_step_in_two_places_merges() -> None:
    lay = graph.layout(source(("x = 1", ["step:a"]), ("y = 1", ["step:b"]),
                              ("z = 1", ["step:a", "prev:b"])), "main")
    a = lay.steps[0]
    assert [c.index for c in a.cells] == [0, 2] and a.prev == [("b", 2, "prev:b")]


def test_two_step_names_on_one_cell() -> None:
    with pytest.raises(TagError) as info:
        graph.layout(source(("x = 1", ["step:a", "step:b"])), "main")
    assert info.value.kind == "conflicting-tags"


def test_conflicting_roles() -> None:
    with pytest.raises(TagError) as info:
        graph.layout(source(("x = 1", ["step:a", "imports"])), "main")
    assert (info.value.kind, info.value.cell) == ("conflicting-tags", 0)


def test_only_prelude_is_empty() -> None:
    with pytest.raises(AnalysisError) as info:
        graph.layout(source(("import os", ["imports"])), "main")
    assert info.value.kind == "empty"


def test_prev_checks() -> None:
    lay = graph.layout(source(("x = 1", ["step:a", "prev:b"]), ("y = 1", ["step:b"])), "m")
    with pytest.raises(TagError) as info:
        graph.check_prev(lay)
    assert (info.value.kind, info.value.cell, info.value.tag) == ("later-prev", 0, "prev:b")
    lay = graph.layout(source(("x = 1", ["step:a"]), ("y = 1", ["step:b", "prev:zz"])), "m")
    with pytest.raises(TagError, match="known steps: a, b") as info:
        graph.check_prev(lay)
    assert info.value.kind == "unknown-prev"


def test_topological_order_breaks_ties_by_notebook_order() -> None:
    names = ["a", "b", "c", "d"]
    order = graph.topological_order(names, {"b": ["a"], "d": ["a"], "c": []})
    assert order == ["a", "b", "c", "d"]
    order = graph.topological_order(names, {"a": ["c"], "b": ["a"]})
    assert order == ["c", "a", "b", "d"]


def test_cycle_named_with_the_offending_tag() -> None:
    lay = graph.layout(source(("x = 1", ["step:a"]), ("y = 1", ["step:b", "prev:a"]),
                              ("z = 1", ["step:a", "prev:b"])), "m")
    preds = {s.name: [t for t, _, _ in s.prev] for s in lay.steps}
    with pytest.raises(AnalysisError) as info:
        graph.topological_order([s.name for s in lay.steps], preds, lay)
    err = info.value
    assert (err.kind, err.cell, err.tag) == ("cycle", 2, "prev:b")
    assert "a -> b -> a" in err.message


def test_self_cycle() -> None:
    lay = graph.layout(source(("x = 1", ["step:a", "prev:a"]),), "m")
    with pytest.raises(AnalysisError, match="a -> a"):
        graph.topological_order(["a"], {"a": ["a"]}, lay)


def test_ancestors() -> None:
    anc = graph.ancestors(["a", "b", "c", "d"], {"b": ["a"], "c": ["b"], "d": ["a"]})
    assert anc == {"a": set(), "b": {"a"}, "c": {"a", "b"}, "d": {"a"}}
