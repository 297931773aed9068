"""Step grouping, prev: checks, deterministic topological order and named cycles."""

from __future__ import annotations

import pytest
from nb_kit import notebook

from kale_like import graph
from kale_like.errors import AnalysisError, TagError
from kale_like.notebook import read_notebook


def source(*cells: tuple[str, list[str]]):
    return read_notebook(notebook(*cells))


def test_layout_roles() -> None:
    lay = graph.layout(
        source(
            ("import os", ["imports"]),
            ("x = 1", ["step:a"]),
            ("def f(): pass", ["functions"]),
            ("y = 1", []),
            ("n = 1", ["parameters"]),
            ("z = 1", ["skip"]),
            ("print(x)", ["pipeline-metrics"]),
        ),
        "main",
    )
    assert [s.name for s in lay.steps] == ["a"]
    # Kale: the untagged cell 3 joins the functions block above it, not step a.
    assert [c.index for c in lay.steps[0].cells] == [1]
    assert [c.index for c in lay.special["imports"]] == [0]
    assert [c.index for c in lay.special["functions"]] == [2, 3]
    assert [c.index for c in lay.special["pipeline-parameters"]] == [4]
    assert [c.index for c in lay.skipped] == [5]
    assert not lay.implicit


def test_same_step_in_two_places_merges() -> None:
    lay = graph.layout(
        source(("x = 1", ["step:a"]), ("y = 1", ["step:b"]), ("z = 1", ["step:a", "prev:b"])),
        "main",
    )
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
    lay = graph.layout(
        source(
            ("x = 1", ["step:a"]), ("y = 1", ["step:b", "prev:a"]), ("z = 1", ["step:a", "prev:b"])
        ),
        "m",
    )
    preds = {s.name: [t for t, _, _ in s.prev] for s in lay.steps}
    with pytest.raises(AnalysisError) as info:
        graph.topological_order([s.name for s in lay.steps], preds, lay)
    err = info.value
    assert (err.kind, err.cell, err.tag) == ("cycle", 2, "prev:b")
    assert "a -> b -> a" in err.message


def test_self_cycle() -> None:
    lay = graph.layout(
        source(
            ("x = 1", ["step:a", "prev:a"]),
        ),
        "m",
    )
    with pytest.raises(AnalysisError, match="a -> a"):
        graph.topological_order(["a"], {"a": ["a"]}, lay)


def test_ancestors() -> None:
    anc = graph.ancestors(["a", "b", "c", "d"], {"b": ["a"], "c": ["b"], "d": ["a"]})
    assert anc == {"a": set(), "b": {"a"}, "c": {"a", "b"}, "d": {"a"}}


def test_ancestors_of_one_node_or_several_agrees_with_the_memoised_form() -> None:
    parents = {"b": ["a"], "c": ["b"], "d": ["a"], "e": ["c", "d"]}
    every = graph.ancestors(["a", "b", "c", "d", "e"], parents)
    for n in "abcde":
        assert graph.ancestors_of(parents, n) == every[n]
    assert graph.ancestors_of(parents, ["c", "d"]) == {"a", "b"}  # the union, not c or d
    assert graph.ancestors_of(parents, {"c", "b"}) == {"a", "b"}  # b: upstream of c
    assert graph.ancestors_of(parents, "zz") == frozenset()  # unknown: no parents
    assert graph.ancestors_of({"x": ["y"], "y": ["x"]}, "x") == {"x", "y"}  # a cycle ends


def test_every_caller_uses_the_one_ancestors() -> None:
    from kale_like import suggest_cost
    from kale_like.codegen import workspace
    from kale_like.engines.local import plan

    # No module keeps its own walk: each imports the core's (one home per helper).
    assert suggest_cost.ancestors is graph.ancestors
    assert plan.ancestors_of is workspace.ancestors_of is graph.ancestors_of
    assert suggest_cost.width(["a", "b", "c", "d"], {"c": ["a", "b"], "d": ["a"]}) == 2


def roles(lay: graph.Layout) -> list[tuple[int, str, str | None, bool]]:
    return [(r.cell, r.role, r.step, r.joined) for r in lay.roles]


def test_kale_untagged_cells_join_the_block_above_whatever_it_is() -> None:
    lay = graph.layout(
        source(
            ("import os", ["imports"]),
            ("import sys", []),
            ("x = 1", ["step:a"]),
            ("x += 1", []),
            ("def f(): pass", ["functions"]),
            ("def g(): pass", []),
            ("y = f()", ["step:b"]),
            ("y += 1", ["skip"]),
            ("y *= 2", []),
        ),
        "main",
    )
    assert [c.index for c in lay.special["imports"]] == [0, 1]
    assert [c.index for c in lay.special["functions"]] == [4, 5]
    assert [[c.index for c in g.cells] for g in lay.steps] == [[2, 3], [6, 8]]
    assert roles(lay) == [
        (0, "imports", None, False),
        (1, "imports", None, True),
        (2, "step", "a", False),
        (3, "step", "a", True),
        (4, "functions", None, False),
        (5, "functions", None, True),
        (6, "step", "b", False),
        (7, "skip", None, False),
        (8, "step", "b", True),
    ]


@pytest.mark.parametrize("empty", ["step:", "block:"])
def test_empty_step_tag_continues_the_block_above(empty: str) -> None:
    lay = graph.layout(
        source(
            ("x = 1", ["block:a"]),
            ("y = x", [empty, "prev:a"]),
            ("import os", ["imports"]),
            ("import re", [empty]),
            ("z = 1", ["block:b"]),
        ),
        "main",
    )
    assert [[c.index for c in g.cells] for g in lay.steps] == [[0, 1], [4]]
    assert [c.index for c in lay.special["imports"]] == [2, 3]
    assert lay.steps[0].prev == []  # prev: on an empty step cell is ignored (as in Kale)
    info = [d for d in lay.diagnostics if d.kind == "ignored-prev"]
    assert [(d.severity, d.cell) for d in info] == [("info", 1)]


def test_untagged_cells_above_the_first_tagged_cell_are_left_out() -> None:
    lay = graph.layout(
        source(("!pip install x", []), ("import os", ["imports"]), ("x = 1", ["step:a"])), "main"
    )
    assert [[c.index for c in g.cells] for g in lay.steps] == [[2]]
    assert lay.special["imports"][0].index == 1
    assert roles(lay)[0] == (0, "outside", None, False)
    warn = [d for d in lay.diagnostics if d.kind == "outside-pipeline"]
    assert [(d.severity, d.cell) for d in warn] == [("warning", 0)]


def test_no_step_tags_is_one_step_of_every_untagged_cell() -> None:
    # papermill-style: the untagged cells after the parameters cell are the step.
    lay = graph.layout(source(("n = 1", ["parameters"]), ("x = n", []), ("y = x", [])), "nb")
    assert lay.implicit and [[c.index for c in g.cells] for g in lay.steps] == [[1, 2]]
    assert [c.index for c in lay.special["pipeline-parameters"]] == [0]


def test_layout_collects_every_tag_error() -> None:
    errors: list[TagError] = []
    lay = graph.layout(
        source(
            ("x = 1", ["step:a", "step:b"]),
            ("y = 1", ["step:c", "imports"]),
            ("z = 1", ["step:d", "prev:nope", "prev:e"]),
            ("w = 1", ["step:e"]),
        ),
        "m",
        errors,
    )
    graph.check_prev(lay, None, errors)
    assert [(e.kind, e.cell) for e in errors] == [
        ("conflicting-tags", 0),
        ("conflicting-tags", 1),
        ("unknown-prev", 2),
        ("later-prev", 2),
    ]


def test_data_flow_soft_reads_take_the_producer_and_never_warn() -> None:
    """A name a step binds on some paths only and reads after (a soft read): the earlier
    producer's value may pass through (edge), but a missing producer is no warning."""
    from kale_like.analysis import BUILTIN_NAMES, analyze_cell

    facts = {
        "a": analyze_cell("x = 1"),
        "b": analyze_cell("try:\n    x = int('2')\nexcept ValueError:\n    pass\ny = x"),
        "c": analyze_cell("if y:\n    z = 1\nw = z"),
        "d": analyze_cell("del x"),
        "e": analyze_cell("for x in []:\n    pass\nv = x"),
    }
    flow = graph.data_flow(list(facts), facts, [], [], BUILTIN_NAMES, star_import=False)
    assert flow.inputs == {"a": {}, "b": {"x": "a"}, "c": {"y": "b"}, "d": {"x": "b"}, "e": {}}
    assert flow.diagnostics == []
    # A read before any binding is a real read: warned when nothing defines it.
    facts = {"a": analyze_cell("y = q\nif y:\n    q = 1")}
    flow = graph.data_flow(["a"], facts, [], [], [], star_import=False)
    assert [d.kind for d in flow.diagnostics] == ["undefined-name"]
