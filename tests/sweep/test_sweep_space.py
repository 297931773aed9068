"""Search-space grammar: parsing, typing like the defaults, grids, sampling, Katib mapping."""

from __future__ import annotations

import random

import pytest
from sweep_kit import linear_pipeline

from kale_like.errors import UsageError
from kale_like.model import Parameter, Pipeline
from kale_like.sweep.space import (
    grid_size,
    katib_parameter,
    parse_space,
    spec_from_katib,
)


@pytest.fixture
def pipeline() -> Pipeline:
    p = linear_pipeline()
    extra = (Parameter("flag", False, "bool"), Parameter("opts", {"a": 1}, "dict"))
    return Pipeline(name=p.name, steps=p.steps, parameters=p.parameters + extra, metrics=p.metrics)


def test_choice_values_are_typed_like_the_defaults(pipeline: Pipeline) -> None:
    dims = parse_space(
        pipeline,
        ["n=choice:1,2,3", "scale=choice:0.5,2", "label=choice:a,7", "flag=choice:true,false"],
    )
    assert [d.grid() for d in dims] == [[1, 2, 3], [0.5, 2.0], ["a", "7"], [True, False]]
    assert isinstance(dims[1].grid()[1], float)
    assert isinstance(dims[2].grid()[1], str)


def test_range_includes_max_when_it_lands_on_a_step(pipeline: Pipeline) -> None:
    scale, n = parse_space(pipeline, {"scale": "range:0.1:0.3:0.1", "n": "range:2:10:4"})
    assert scale.grid() == [0.1, 0.2, 0.3]
    assert n.grid() == [2, 6, 10]
    (n2,) = parse_space(pipeline, ["n=range:1:10:4"])
    assert n2.grid() == [1, 5, 9]  # 13 would pass max
    (s2,) = parse_space(pipeline, ["scale=range:1:3:1"])  # a float parameter stays float
    assert s2.grid() == [1.0, 2.0, 3.0] and all(isinstance(v, float) for v in s2.grid())


def test_int_and_continuous_spaces(pipeline: Pipeline) -> None:
    n, scale = parse_space(pipeline, ["n=int:3:5", "scale=loguniform:1e-3:10"])
    assert n.grid() == [3, 4, 5]
    rng = random.Random(0)
    draws = [scale.sample(rng) for _ in range(200)]
    assert all(1e-3 <= v <= 10 for v in draws)
    assert sum(v < 0.1 for v in draws) > 60  # log-uniform: half the mass below sqrt(1e-2)
    assert scale.grid(3) == pytest.approx([1e-3, 0.1, 10.0])
    with pytest.raises(UsageError, match="--grid-points"):
        scale.grid()
    assert grid_size(parse_space(pipeline, ["n=int:1:4", "label=choice:a,b,c"])) == 12


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("nope=choice:1,2", "valid parameters: n, scale, label, flag, opts"),
        ("n=bogus:1:2", "unknown kind 'bogus'"),
        ("n=choice:1,x", "'x' is not int"),
        ("n=choice:", "comma-separated"),
        ("n=range:1:5", "range:min:max:step"),
        ("n=range:5:1:1", "greater than max"),
        ("scale=range:0:1:0", "step must be > 0"),
        ("n=uniform:0:1", "'n' is an int"),
        ("scale=loguniform:0:1", "min > 0"),
        ("label=uniform:0:1", "numeric parameter"),
        ("opts=choice:a,b", "dict parameters cannot be swept"),
        ("n=int:1.5:3", "'1.5' is not an integer"),
        ("scale", "expected NAME=SPEC"),
    ],
)
def test_bad_spaces_name_the_parameter(pipeline: Pipeline, spec: str, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_space(pipeline, [spec])
    assert needle in str(info.value)
    assert info.value.exit_code == 2


def test_katib_metadata_round_trip(pipeline: Pipeline) -> None:
    entries = [
        {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}},
        {
            "name": "scale",
            "parameterType": "double",
            "feasibleSpace": {"min": "0.5", "max": "2.5", "step": "0.5"},
        },
        {"name": "label", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
    ]
    specs = dict(spec_from_katib(e) for e in entries)
    assert specs == {"n": "int:1:5", "scale": "range:0.5:2.5:0.5", "label": "choice:a,b"}
    dims = parse_space(pipeline, specs)
    assert [katib_parameter(d) for d in dims] == entries
    (lu,) = parse_space(pipeline, ["scale=loguniform:0.001:1"])
    assert katib_parameter(lu)["feasibleSpace"] == {
        "min": "0.001",
        "max": "1",
        "distribution": "logUniform",
    }


def test_huge_spaces_are_counted_not_built(pipeline: Pipeline) -> None:
    n, scale = parse_space(pipeline, ["n=int:0:1000000000", "scale=range:0:1000:0.001"])
    assert n.size() == 1_000_000_001 and scale.size() == 1_000_001
    rng = random.Random(1)
    assert 0 <= n.sample(rng) <= 10**9 and 0 <= scale.sample(rng) <= 1000
    with pytest.raises(UsageError, match="more than 1000000 points"):
        grid_size([n, scale])
    with pytest.raises(UsageError, match="too many for a grid"):
        n.grid()


def test_shared_katib_vectors_match_the_labextension() -> None:
    # tests/katib_space_vectors.json is also what labextension/test/katibmeta.spec.ts checks,
    # so the sweep dialog writes katib_metadata exactly as the CLI reads and writes it.
    import json
    from pathlib import Path

    vectors = json.loads((Path(__file__).parent.parent / "katib_space_vectors.json").read_text())
    defaults = {"int": 1, "float": 0.5, "str": "x"}
    for v in vectors:
        name = v["katib"]["name"]
        assert spec_from_katib(v["katib"]) == (name, v["spec"])
        pipeline = Pipeline(
            name="p", steps=(), parameters=(Parameter(name, defaults[v["type"]], v["type"]),)
        )
        (dim,) = parse_space(pipeline, {name: v["spec"]})
        assert katib_parameter(dim) == v["katib"]
