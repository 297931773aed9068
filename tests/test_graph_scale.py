"""Long and wide notebooks: the edges the analysis infers, checked by hand-derivable rules.

The analysis answers "which steps are above this one" with bitmasks and indexes (so that
5,000 steps stay near-linear; benchmarks/scale.py times it); these cases pin that the
answers are those of the definitions: the last writer above a read, the last state writer
among the ancestors, every parallel rival of a value.
"""

from __future__ import annotations

from nb_kit import notebook

from kale_like import graph
from kale_like.api.analysis import load_pipeline
from kale_like.model import Pipeline

LONG = 300
WIDE = 120


def _load(*cells: tuple[str, list[str]]) -> Pipeline:
    return load_pipeline(notebook(*cells))


def test_long_chain_edges_state_and_ancestors() -> None:
    # s{i} reads the value of s{i-1} and of s{i//2}; every 25th step reseeds random; the
    # last step draws a number, so it takes the random state of the last reseeding above.
    cells = [("import random", ["imports"]), ("seed = 3", ["pipeline-parameters"])]
    cells.append(("v0 = seed", ["step:s0"]))
    for i in range(1, LONG):
        src = f"v{i} = v{i - 1} + v{i // 2}"
        if i % 25 == 0:
            src += f"\nrandom.seed({i})"
        if i == LONG - 1:
            src += "\nr = random.random()"
        cells.append((src, [f"step:s{i}"]))
    p = _load(*cells)
    assert p.step_names == [f"s{i}" for i in range(LONG)]  # already topological
    for i in range(1, LONG):
        step = p.step(f"s{i}")
        expected = dict.fromkeys([f"v{i - 1}", f"v{i // 2}"])  # read order, no duplicates
        assert dict(step.inputs) == {v: f"s{int(v[1:])}" for v in expected}
        assert set(step.after) == {f"s{i - 1}", f"s{i // 2}"} | (
            {"s275"} if i == LONG - 1 else set()  # the state edge (notebook order)
        )
    last = p.step(f"s{LONG - 1}")
    assert dict(last.state_inputs) == {"random": "s275"}  # 275 = last multiple of 25 above
    assert dict(p.step("s30").state_inputs) == {"random": "s25"}
    assert p.step("s24").state_inputs == ()
    assert not [d for d in p.diagnostics if d.kind in ("ambiguous-definition", "undefined-name")]


def test_wide_fan_out_rivals_and_join() -> None:
    # One root, WIDE parallel branches all writing y, and a join reading y: the join takes
    # y from the last branch in the notebook and warns about the first rival.
    cells = [("x = 1", ["step:root"])]
    cells += [(f"y = x + {i}\nz{i} = y", [f"step:b{i:03d}"]) for i in range(WIDE)]
    cells.append(("total = y + z0 + z7", ["step:join"]))
    p = _load(*cells)
    last = f"b{WIDE - 1:03d}"
    join = p.step("join")
    assert dict(join.inputs) == {"y": last, "z0": "b000", "z7": "b007"}
    assert join.after == ("b000", "b007", last)
    for i in range(WIDE):
        assert p.step(f"b{i:03d}").after == ("root",)
    ambiguous = [d for d in p.diagnostics if d.kind == "ambiguous-definition"]
    assert [d.message for d in ambiguous] == [
        f"step 'join' reads 'y', written by parallel steps 'b000' and {last!r};"
        f" using {last!r} (the later in the notebook)"
    ]


def test_ancestors_are_the_transitive_predecessors() -> None:
    # A ladder: n{i} after n{i-1}, and after n{i-3} when i is odd.
    names = [f"n{i}" for i in range(200)]
    preds = {f"n{i}": {f"n{i - 1}"} | ({f"n{i - 3}"} if i % 2 and i >= 3 else set())
             for i in range(1, 200)}  # fmt: skip
    anc = graph.ancestors(names, preds, rank=names[::-1])
    assert anc["n0"] == set() and len(anc["n0"]) == 0
    assert anc["n150"] == {f"n{i}" for i in range(150)}
    assert "n149" in anc["n150"] and "n150" not in anc["n150"] and "zz" not in anc["n150"]
    assert list(anc["n3"]) == ["n2", "n1", "n0"]  # rank order
    assert anc.latest("n150", anc.mask(["n5", "n40", "n199"])) == "n5"  # last in rank
    assert anc.latest("n3", anc.mask(["n199"])) is None
    assert anc.members(anc.bits("n2")) == ["n1", "n0"]
