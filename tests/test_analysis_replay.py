"""Replay oracle: random notebooks run step by step (each step in a fresh namespace, with
only the inputs and parameters the analysis names) must see the values a top-to-bottom run
sees. This checks the analysis itself, independent of any engine."""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_notebook

from kale_like.api.analyze import load_pipeline

FUNCTIONS = '''def peek():
    return a[-1]


def grow():
    b.append(7)


def reset():
    global c
    c = [0]


def push(x, v):
    x.append(v)
'''
PARAMS = "k0 = 3\n"
VARS = ["a", "b", "c", "d"]
TEMPLATES = [
    "{x} = [{k}]",
    "{x} = {y} + [{k}]",
    "{x} = {y}",
    "{x}.append({k})",
    "{x} += [{k}]",
    "{x}[0] = {k}",
    "for s_ in ({x}, {y}):\n    s_.append({k})",
    "if len({x}) > {k}:\n    {y} = [{k}]",
    "{x} = [peek()]",
    "grow()",
    "reset()",
    "push({x}, {k})",
    "{x} = [v + {k} for v in {y}]",
    "del {x}",
    "{x}.extend({y})",
    "{x} = {y}[:]",
    "{x} = sorted({y})",
    "{x} = [k0] + {y}",
    "{x}[0] += k0",
    "{x}.reverse()",
    "{x} = {y} if len({y}) > {k} else {x}",
    "{x} = {y} or {x}",
    "{x} = max({x}, {y}, key=len)",
    "{x}, {y} = {y}, {x}",
    "{x} = {{'k': {y}}}.get('k')",
    "if len({x}) > {k}:\n    del {y}",
    "try:\n    {x}.append({y}[{k}])\nexcept IndexError:\n    {x} = [{k}]",
    "if (n_ := len({x})) > {k}:\n    {y} = [n_]",
    "{x} = [w_ for v in {y} if (w_ := v + {k})]",
    "while len({x}) < {k}:\n    {x}.append(len({y}))",
]
# Not generated: lists nested in lists. A value computed from a container (`a + [0]`,
# `sorted(a)`) is a new object for the analysis even when it holds references to objects
# that later steps mutate; that deep sharing is not tracked (see test_analysis.py).

STATEMENT = st.builds(
    lambda t, x, y, k: t.format(x=x, y=y, k=k),
    st.sampled_from(TEMPLATES), st.sampled_from(VARS), st.sampled_from(VARS),
    st.integers(0, 3),
)
STEP = st.lists(STATEMENT, min_size=1, max_size=4).map("\n".join)


@st.composite
def notebooks(draw: Any) -> tuple[list[str], list[list[str]]]:
    bodies = ["a = [1]\nb = [2]\nc = [3]\nd = [4]"] + draw(st.lists(STEP, min_size=1, max_size=5))
    prevs = []
    for i in range(len(bodies)):
        earlier = [f"s{j}" for j in range(i)]
        prevs.append(draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else [])
    return bodies, prevs


def build(bodies: list[str], prevs: list[list[str]], metrics: list[str]) -> Any:
    cells = [new_code_cell(FUNCTIONS, metadata={"tags": ["functions"]}),
             new_code_cell(PARAMS, metadata={"tags": ["pipeline-parameters"]})]
    for i, (body, prev) in enumerate(zip(bodies, prevs, strict=True)):
        tags = [f"step:s{i}"] + [f"prev:{p}" for p in prev]
        cells.append(new_code_cell(body, metadata={"tags": tags}))
    if metrics:
        cells.append(new_code_cell("\n".join(f"print({m})" for m in metrics),
                                   metadata={"tags": ["pipeline-metrics"]}))
    meta = {"kernelspec": {"name": "python3", "language": "python", "display_name": "P"}}
    return new_notebook(cells=cells, metadata=meta)


def user_vars(ns: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ns.items() if k in VARS or k in ("s_", "n_", "w_")}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(notebooks())
def test_step_by_step_replay_matches_top_to_bottom(nb: tuple[list[str], list[list[str]]]) -> None:
    bodies, prevs = nb
    top: dict[str, Any] = {}
    exec(FUNCTIONS, top)
    exec(PARAMS, top)
    snapshots = {}
    try:
        for i, body in enumerate(bodies):
            exec(body, top)
            snapshots[f"s{i}"] = pickle.loads(pickle.dumps(user_vars(top)))
    except Exception:
        assume(False)
    final = user_vars(top)
    metrics = sorted(v for v in final if v in VARS)
    pipeline = load_pipeline(build(bodies, prevs, metrics))
    saved: dict[str, bytes] = {}
    for step in pipeline.steps:
        ns: dict[str, Any] = {}
        exec(FUNCTIONS, ns)
        for name in step.parameters:
            ns[name] = pipeline.parameter(name).default
        loaded: dict[str, dict[str, Any]] = {}
        for var, producer in step.inputs:
            if producer not in loaded:  # one load per producer keeps shared objects shared
                loaded[producer] = pickle.loads(saved[producer])
            if var in loaded[producer]:
                ns[var] = loaded[producer][var]
        exec("\n".join(step.sources), ns)
        # A name defined only on some paths (`if c: x = 1`) may be absent: not saved.
        saved[step.name] = pickle.dumps({v: ns[v] for v in step.outputs if v in ns})
        expected = snapshots[step.name]
        for name, value in user_vars(ns).items():
            assert name in expected and value == expected[name], (step.name, name, step.inputs)
    # Metrics (every variable alive at the end) come from their producer's saved outputs.
    for metric in pipeline.metrics:
        assert pickle.loads(saved[metric.step])[metric.name] == final[metric.name], metric
    assert sorted(m.name for m in pipeline.metrics) == metrics
