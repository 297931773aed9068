"""Value comparison used by verify: exact for plain data, arrays/frames, object state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kale_like.runtime.artifacts import save_value
from kale_like.runtime.compare import compare_saved, difference


class Box:
    def __init__(self, v: object) -> None:
        self.v = v


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1),
        ("é", "é"),
        ([1, (2, 3)], [1, (2, 3)]),
        ({"a": {1, 2}}, {"a": {2, 1}}),
        (float("nan"), float("nan")),
        (np.array([1.0, np.nan]), np.array([1.0, np.nan])),
        (np.array(["a", "b"]), np.array(["a", "b"])),
        (pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [1, 2]})),
        (pd.Series([1.5], name="s"), pd.Series([1.5], name="s")),
        (Box([1, 2]), Box([1, 2])),
        (np.random.default_rng(3), np.random.default_rng(3)),
    ],
)
def test_equal_values(a: object, b: object) -> None:
    assert difference(a, b) is None


@pytest.mark.parametrize(
    ("a", "b", "needle"),
    [
        (1, 1.0, "type int != float"),
        ((1, 2), [1, 2], "type tuple != list"),
        ([1, 2], [1, 2, 3], "length 2 != 3"),
        ({"k": [1, 2]}, {"k": [1, 5]}, "value['k'][1]: 2 != 5"),
        (np.array([1, 2, 3]), np.array([1, 9, 3]), "first at (1,)"),
        (np.zeros(3, dtype="f4"), np.zeros(3, dtype="f8"), "dtype float32 != float64"),
        (pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [1, 3]}), "value"),
        (Box(1), Box(2), "__dict__"),
        (np.random.default_rng(3), np.random.default_rng(4), "state"),
    ],
)
def test_different_values_say_where(a: object, b: object, needle: str) -> None:
    diff = difference(a, b)
    assert diff is not None and needle in diff


def test_closures_compare_code_and_captured_values() -> None:
    def make(k: int):
        return lambda v: v * k

    assert difference(make(2), make(2)) is None
    assert "closure" in (difference(make(2), make(3)) or "")


_CLASSES = """
import collections, dataclasses, enum

@dataclasses.dataclass
class Rec:
    a: int
    b: list = dataclasses.field(default_factory=list)
    def total(self):
        return self.a + sum(self.b)

class Color(enum.Enum):
    RED = 1
    BLUE = 2

Point = collections.namedtuple("Point", "x y")
"""


def _notebook_classes(source: str = _CLASSES) -> dict[str, object]:
    """The classes a notebook cell defines, as a separate run defines them: new objects of
    the same module and name (a pickled-by-value class in another process is one)."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def test_copies_of_notebook_classes_and_their_values_agree() -> None:
    one, two = _notebook_classes(), _notebook_classes()
    for name in ("Rec", "Color", "Point"):
        assert one[name] is not two[name]
        assert difference(one[name], two[name]) is None, name
    assert difference(one["Color"].RED, two["Color"].RED) is None  # type: ignore[attr-defined]
    assert difference(one["Point"](1, 2), two["Point"](1, 2)) is None  # type: ignore[operator]
    assert difference(one["Rec"](1, [2]), two["Rec"](1, [2])) is None  # type: ignore[operator]


def test_notebook_classes_that_differ_say_how() -> None:
    one = _notebook_classes()
    other = _notebook_classes(_CLASSES.replace("self.a + sum(self.b)", "self.a"))
    assert "method Rec.total has different code" in (difference(one["Rec"], other["Rec"]) or "")
    renamed = _notebook_classes(_CLASSES.replace("BLUE = 2", "GREEN = 2"))
    assert "GREEN" in (difference(one["Color"], renamed["Color"]) or "")
    two = _notebook_classes()
    blue = two["Color"].BLUE  # type: ignore[attr-defined]
    assert difference(one["Color"].RED, blue) is not None  # type: ignore[attr-defined]


def test_compare_saved_uses_digests_then_values(tmp_path: Path) -> None:
    big = np.arange(1000.0)
    save_value("a", big, tmp_path / "a")
    save_value("b", big.copy(), tmp_path / "b")
    save_value("c", big + 1, tmp_path / "c")
    out = compare_saved(
        [
            {"variable": "x", "expected": str(tmp_path / "a"), "actual": str(tmp_path / "b")},
            {"variable": "x", "expected": str(tmp_path / "a"), "actual": str(tmp_path / "c")},
        ]
    )
    assert out[0]["difference"] is None
    assert "arrays differ first at (0,)" in out[1]["difference"]


def test_last_bit_differences_are_rounding_not_divergence() -> None:
    from kale_like.runtime.compare import collecting_rounding

    x = 0.1 + 0.2  # 0.30000000000000004
    arr = np.array([1.0, np.nan, np.inf, 3.0])
    frame = pd.DataFrame({"v": [x, 2.0]})
    with collecting_rounding() as rounded:
        assert difference(x, 0.3) is None
        assert difference(arr, arr * (1 + 1e-15)) is None
        assert difference(np.float64(x), np.float64(0.3)) is None
        assert difference(frame, pd.DataFrame({"v": [0.3, 2.0]})) is None
        assert difference({"k": [x]}, {"k": [0.3]}) is None
    assert [where for where, _ in rounded] == ["value", "value", "value", "value", "value['k'][0]"]
    assert all(0 < rel <= 1e-9 for _, rel in rounded)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1.0, 1.0 + 1e-6),  # beyond rounding: a real difference
        (np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6])),
        (np.array([1.0, np.nan]), np.array([1.0, 2.0])),  # NaN against a number
        (np.array([np.inf]), np.array([-np.inf])),
        (np.array([1, 2]), np.array([1, 3])),  # integers are exact
        (pd.DataFrame({"v": [1.0]}), pd.DataFrame({"v": [1.001]})),
    ],
)
def test_differences_beyond_rounding_still_diverge(a: object, b: object) -> None:
    from kale_like.runtime.compare import collecting_rounding

    with collecting_rounding() as rounded:
        assert difference(a, b) is not None
    assert rounded == []
