"""Write detection in the step runtime (runtime/observe.py, runtime/digest.py).

Specs are built by hand, so the "analysis" is whatever the test declares: each test declares
nothing (``writes: []``) and checks what the runtime observes on its own.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from runtime_kit import StepDir, make_spec

from kale_like.runtime import StepFailed, run_step
from kale_like.runtime.artifacts import load_value, save_value
from kale_like.runtime.digest import digest


def observed_spec(
    step: str, cells: list[tuple[int, str]], later: dict[str, list[str]], **kw: Any
) -> dict[str, Any]:
    spec = make_spec(step, cells, **kw)
    spec["writes"] = []
    spec["later"] = later
    return spec


def test_digest_sees_in_place_changes_of_every_kind() -> None:
    class Acc:
        def __init__(self) -> None:
            self.items: list[int] = []

    rng = random.Random(0)
    acc = Acc()
    arr = np.zeros(200_000)
    cyc: list[Any] = []
    cyc.append(cyc)
    for value, change in [
        (rng, lambda: rng.random()),
        (acc, lambda: acc.items.append(1)),
        (arr, lambda: arr.__setitem__(123_456, 1.0)),
        (cyc, lambda: cyc.append(2)),
        ({"a": {1, 2}}, None),
    ]:
        before = digest(value)
        assert digest(value) == before  # stable while unchanged
        if change is not None:
            change()
            assert digest(value) != before


def test_undeclared_change_of_a_received_value_fails_without_observe_dir(steps: StepDir) -> None:
    """KFP-based engines: a submitted DAG cannot be re-planned, so the step fails."""
    save_value("rng", random.Random(0), steps.out("make", "rng"))
    spec = observed_spec(
        "draw_a", [(5, "x = 1\nrng.random()")], {"rng": ["draw_b"]}, inputs=["rng"]
    )
    with pytest.raises(StepFailed) as info:
        run_step(
            spec,
            inputs={"rng": steps.out("make", "rng")},
            state_inputs={},
            outputs={},
            state_output=None,
            parameters={},
        )
    err = info.value
    assert err.kind == "undeclared-write" and err.variable == "rng" and err.cell == 5
    assert "draw_a changed `rng` (cell 6) although the analysis did not see it" in str(err)
    assert "rng = rng" in (err.fix or "")


def test_undeclared_writes_are_saved_for_later_readers(steps: StepDir, tmp_path: Path) -> None:
    save_value("rng", random.Random(0), steps.out("make", "rng"))
    spec = observed_spec(
        "draw_a",
        [(5, "rng.random()"), (6, "exec('z = 7')\nglobals()['w'] = 8\nunused = 1")],
        {"rng": ["draw_b"], "z": ["use"]},
        inputs=["rng"],
    )
    out = tmp_path / "observed"
    outcome = run_step(
        spec,
        inputs={"rng": steps.out("make", "rng")},
        state_inputs={},
        outputs={},
        state_output=None,
        parameters={},
        observe_dir=str(out),
    )
    seen = {w["variable"]: w for w in outcome.observed}
    assert seen["rng"]["how"] == "changed" and seen["rng"]["cell"] == 5 and seen["rng"]["saved"]
    assert seen["z"]["how"] == "bound" and seen["z"]["cell"] == 6 and seen["z"]["saved"]
    assert not seen["w"]["saved"] and not seen["unused"]["saved"]  # nobody reads them later
    expected = random.Random(0)
    expected.random()
    assert load_value(out / "rng").getstate() == expected.getstate()
    assert load_value(out / "z") == 7


def test_prelude_state_travels_as_a_patch(steps: StepDir, tmp_path: Path) -> None:
    functions = [
        (
            1,
            (
                "def counted(fn):\n"
                "    def wrapper(*a):\n"
                "        wrapper.calls += 1\n"
                "        return fn(*a)\n"
                "    wrapper.calls = 0\n"
                "    return wrapper\n"
                "\n"
                "@counted\n"
                "def f(x):\n"
                "    return x\n"
                "\n"
                "def make():\n"
                "    n = 0\n"
                "    def inc():\n"
                "        nonlocal n\n"
                "        n += 1\n"
                "        return n\n"
                "    return inc\n"
                "counter = make()"
            ),
        )
    ]
    out = tmp_path / "one"
    spec = observed_spec(
        "one",
        [(2, "f(1)\nf(2)\ncounter()")],
        {"f": ["two"], "counter": ["two"]},
        functions=functions,
    )
    first = run_step(
        spec,
        inputs={},
        state_inputs={},
        outputs={},
        state_output=None,
        parameters={},
        observe_dir=str(out),
    )
    assert {w["variable"] for w in first.observed if w["saved"]} == {"f", "counter"}
    spec2 = make_spec(
        "two",
        [(3, "calls = f.calls\nf(3)\nafter = f.calls\nc = counter()")],
        functions=functions,
        inputs=["f", "counter"],
        metrics=["calls", "after", "c"],
    )
    second = run_step(
        spec2,
        inputs={"f": str(out / "f"), "counter": str(out / "counter")},
        state_inputs={},
        outputs={},
        state_output=None,
        parameters={},
    )
    assert second.metrics == {"calls": 2, "after": 3, "c": 2}  # as top to bottom


def test_credential_like_environment_is_never_saved(steps: StepDir) -> None:
    spec = make_spec(
        "setup",
        [(1, "import os\nos.environ['KAGGLE_KEY'] = 'v4lue-0f-k3y'\nos.environ['MODE'] = 'fast'")],
    )
    run_step(
        spec,
        inputs={},
        state_inputs={},
        outputs={},
        state_output=steps.state("setup"),
        parameters={},
    )
    data = b"".join(p.read_bytes() for p in Path(steps.state("setup")).rglob("*") if p.is_file())
    assert b"v4lue-0f-k3y" not in data and b"fast" in data


def test_a_loaded_array_is_compared_with_its_saved_file(
    steps: StepDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded array is not hashed before the cells: after them (and after each cell when
    that is cheap) it is compared with the file it was loaded from."""
    from kale_like.runtime import marshal, observe

    save_value("arr", np.arange(300_000, dtype=np.float64), steps.out("make", "arr"))
    numpy_backend = type(marshal.registry.get("numpy"))
    real = numpy_backend.matches_saved
    hashed: list[int] = []
    walked: list[type] = []

    def counted(self: Any, value: Any, directory: Path) -> bool:
        hashed.append(id(value))
        return real(self, value, directory)

    monkeypatch.setattr(numpy_backend, "matches_saved", counted)
    monkeypatch.setattr(observe, "digest", lambda v: walked.append(type(v)) or digest(v))
    cases = [
        ([(3, "s = float(arr.sum())"), (4, "t = arr[:3].tolist()")], None),
        ([(3, "arr[7] += 1"), (4, "t = arr[:3].tolist()")], 3),  # cell 3, not the last
    ]
    for cells, changed_in in cases:
        hashed.clear()
        out = tmp_path / f"observed{changed_in}"
        outcome = run_step(
            observed_spec("use", cells, {"arr": ["later"]}, inputs=["arr"]),
            inputs={"arr": steps.out("make", "arr")},
            state_inputs={},
            outputs={},
            state_output=None,
            parameters={},
            observe_dir=str(out),
        )
        seen = {w["variable"]: w for w in outcome.observed}
        if changed_in is None:
            assert "arr" not in seen
        else:
            assert seen["arr"]["how"] == "changed" and seen["arr"]["cell"] == changed_in
            assert load_value(out / "arr")[7] == 8.0
        assert len(hashed) == 3  # after cell 3, after cell 4, at the end: never before
        assert np.ndarray not in walked


def test_one_value_under_two_names_is_digested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from kale_like.runtime import observe

    calls: list[int] = []
    monkeypatch.setattr(observe, "digest", lambda v: calls.append(id(v)) or digest(v))
    shared = [1, 2, 3]
    obs = observe.Observer({"writes": [], "cells": [{"index": 0, "source": "a.append(4)"}]})
    ns: dict[str, Any] = {"a": shared, "b": shared}
    obs.start(ns, dict(ns))
    assert calls == [id(shared)]
    shared.append(4)
    assert {(w.variable, w.how) for w in obs.finish(ns)} == {("a", "changed"), ("b", "changed")}
    assert calls == [id(shared), id(shared)]
