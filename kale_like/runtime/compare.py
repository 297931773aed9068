"""Compare two values for ``verify``: exact for plain data, array/frame equality, structure.

:func:`difference` returns ``None`` when the values agree, else a short reason. It never
imports numpy/pandas unless a value comes from them. ``python -m kale_like.runtime.compare
JOB.json`` loads pairs of saved values inside a namespace where the notebook's imports and
functions cells were replayed (so instances of notebook classes load) and writes the result.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import cell_label

_MAX_DEPTH = 40

# Floats two processes computed in another order (BLAS kernels choose their code path by
# memory alignment and thread count) can differ in the last bits: that is no data-flow
# difference. Up to this relative difference numbers count as equal; the comparisons made
# inside :func:`collecting_rounding` list where it happened, so verify can say so.
ROUNDING = 1e-9
_rounded: list[tuple[str, float]] | None = None


@contextlib.contextmanager
def collecting_rounding() -> Iterator[list[tuple[str, float]]]:
    """Collect ``(where, relative difference)`` of the numbers that were equal only up to
    floating-point rounding in the comparisons made inside the block."""
    global _rounded
    saved, _rounded = _rounded, []
    try:
        yield _rounded
    finally:
        _rounded = saved


def _within_rounding(where: str, rel: float) -> bool:
    if not rel <= ROUNDING:  # also False for NaN
        return False
    if _rounded is not None:
        _rounded.append((where, rel))
    return True


def _relative(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def _short(value: Any, limit: int = 120) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_type(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    # A notebook class pickled by value is a different class object with the same name.
    return ta is tb or (ta.__module__, ta.__qualname__) == (tb.__module__, tb.__qualname__)


def _has_own_eq(obj: Any) -> bool:
    return type(obj).__eq__ is not object.__eq__


def difference(a: Any, b: Any, path: str = "", depth: int = 0) -> str | None:
    """``None`` if ``a`` and ``b`` agree, else where and how they differ."""
    where = path or "value"
    if depth > _MAX_DEPTH:
        return None
    if a is b:
        return None
    if not _same_type(a, b):
        return (
            f"{where}: type {type(a).__name__} != {type(b).__name__} ({_short(a)} vs {_short(b)})"
        )
    root = (type(a).__module__ or "").split(".", 1)[0]
    if root == "numpy":
        return _numpy_difference(a, b, where)
    if root == "pandas":
        return _pandas_difference(a, b, where)
    if root == "matplotlib":
        return _matplotlib_difference(a, b, where)
    if isinstance(a, float):
        if (math.isnan(a) and math.isnan(b)) or a == b:
            return None
        return None if _within_rounding(where, _relative(a, b)) else f"{where}: {a!r} != {b!r}"
    if isinstance(a, (str, bytes, int, bool, complex, type(None))):
        return None if a == b else f"{where}: {_short(a)} != {_short(b)}"
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = difference(x, y, f"{where}[{i}]", depth + 1)
            if d:
                return d
        return None
    if isinstance(a, dict):
        if list(a) != list(b):
            if set(a) != set(b):
                extra = sorted(map(repr, set(a) ^ set(b)))[:5]
                return f"{where}: keys differ ({', '.join(extra)})"
        for k in a:
            d = difference(a[k], b[k], f"{where}[{k!r}]", depth + 1)
            if d:
                return d
        return None
    if isinstance(a, (set, frozenset)):
        return None if a == b else f"{where}: {_short(a)} != {_short(b)}"
    if isinstance(a, types.FunctionType):
        return _function_difference(a, b, where, depth)
    if isinstance(a, type):
        return _class_difference(a, b, where, depth)
    if isinstance(a, enum.Enum):  # a member: its class holds every member, so not its state
        same = (a.name, a.value) == (b.name, b.value)
        return None if same else f"{where}: {_short(a)} != {_short(b)}"
    if _has_own_eq(a) and not hasattr(a, "__dict__"):
        try:
            return None if bool(a == b) else f"{where}: {_short(a)} != {_short(b)}"
        except Exception:
            pass
    state_a, state_b = _state(a), _state(b)
    if state_a is not None and state_b is not None:
        return difference(state_a, state_b, f"{where}.__dict__", depth + 1)
    return _eq_or_pickle_difference(a, b, where)


def _eq_or_pickle_difference(a: Any, b: Any, where: str) -> str | None:
    """Last resort: ``==`` where it answers, else the pickled bytes."""
    if not _has_own_eq(a):
        # Identity equality (itertools.count, a Random's internals...) says nothing about
        # two loaded copies: compare what they pickle to.
        return _pickle_difference(a, b, where)
    try:
        return None if bool(a == b) else f"{where}: {_short(a)} != {_short(b)}"
    except Exception:
        return _pickle_difference(a, b, where)


def _state(obj: Any) -> dict[str, Any] | None:
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return d
    slots = [s for c in type(obj).__mro__ for s in getattr(c, "__slots__", ())]
    if slots:
        return {s: getattr(obj, s, None) for s in slots if isinstance(s, str)}
    return None


def _function_difference(a: Any, b: Any, where: str, depth: int) -> str | None:
    if _code_differs(a, b):
        return f"{where}: function {a.__qualname__} has different code"
    cells_a = [c.cell_contents for c in a.__closure__ or ()]
    cells_b = [c.cell_contents for c in b.__closure__ or ()]
    d = difference(cells_a, cells_b, f"{where}.<closure>", depth + 1)
    if d or a.__globals__.get("__name__") == "__main__":
        # A notebook function's globals are the notebook's namespace (a step binds its own
        # as their globals): its variables are compared as variables, not as the function.
        return d
    names = a.__code__.co_names
    glob_a = {n: a.__globals__[n] for n in names if n in a.__globals__}
    glob_b = {n: b.__globals__[n] for n in names if n in b.__globals__}
    plain_a = {k: v for k, v in glob_a.items() if not isinstance(v, types.ModuleType)}
    plain_b = {k: v for k, v in glob_b.items() if not isinstance(v, types.ModuleType)}
    return difference(plain_a, plain_b, f"{where}.<globals>", depth + 1)


# Set up by Python for every class; they say nothing about what the notebook defined.
_CLASS_NOISE = frozenset({"__dict__", "__weakref__", "__module__", "__doc__"})


def _class_difference(a: type, b: type, where: str, depth: int) -> str | None:
    """Two copies of a notebook class (pickled by value, so different objects): the same if
    they define the same names, methods with the same code, and equal class attributes.
    Methods are compared without their globals (a top-to-bottom run has one namespace)."""
    if (a.__module__, a.__qualname__) != (b.__module__, b.__qualname__):
        return f"{where}: class {a.__qualname__} != {b.__qualname__}"
    own_a = {k: v for k, v in vars(a).items() if k not in _CLASS_NOISE}
    own_b = {k: v for k, v in vars(b).items() if k not in _CLASS_NOISE}
    if set(own_a) != set(own_b):
        names = ", ".join(sorted(set(own_a) ^ set(own_b))[:5])
        return f"{where}: class {a.__qualname__} defines other names ({names})"
    for name in sorted(own_a):
        x, y = _unwrap(own_a[name]), _unwrap(own_b[name])
        at = f"{where}.{name}"
        if isinstance(x, types.FunctionType) and isinstance(y, types.FunctionType):
            if _code_differs(x, y):
                return f"{at}: method {x.__qualname__} has different code"
        elif isinstance(x, a) or isinstance(x, types.MemberDescriptorType):
            continue  # enum members (compared as values), slots set up by Python
        else:
            d = difference(x, y, at, depth + 1)
            if d:
                return d
    return None


def _unwrap(attr: Any) -> Any:
    if isinstance(attr, property):
        return attr.fget
    return attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr


def _code_differs(a: types.FunctionType, b: types.FunctionType) -> bool:
    return a.__code__.co_code != b.__code__.co_code or a.__code__.co_consts != b.__code__.co_consts


def _pickle_difference(a: Any, b: Any, where: str) -> str | None:
    from .marshal import pickle_dumps

    try:
        return None if pickle_dumps(a) == pickle_dumps(b) else f"{where}: pickled bytes differ"
    except Exception:
        return None  # neither equality nor pickling: nothing to compare by


def _matplotlib_difference(a: Any, b: Any, where: str) -> str | None:
    """Figures and artists carry process identity (figure numbers, callback ids, parents
    that point back): what they draw is the value, so compare the rendered figures."""
    fig_a, fig_b = getattr(a, "figure", None) or a, getattr(b, "figure", None) or b
    try:
        import numpy as np

        images = []
        for fig in (fig_a, fig_b):
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    except Exception:  # not a figure or an artist on one (a colormap, a norm...)
        return _eq_or_pickle_difference(a, b, where)
    if images[0].shape != images[1].shape or not (images[0] == images[1]).all():
        return f"{where}: the rendered figures differ"
    return None


def _numpy_difference(a: Any, b: Any, where: str) -> str | None:
    import numpy as np

    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return f"{where}: shape {a.shape} != {b.shape}"
        if a.dtype != b.dtype:
            return f"{where}: dtype {a.dtype} != {b.dtype}"
        try:
            same = bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # equal_nan needs a numeric dtype
            same = bool(np.array_equal(a, b))
        if same or _arrays_round_alike(a, b, where):
            return None
        try:
            bad = np.argwhere(a != b)
            first = tuple(int(i) for i in bad[0]) if len(bad) else ()
            return f"{where}: arrays differ first at {first}: {a[first]!r} != {b[first]!r}"
        except Exception:
            return f"{where}: arrays differ"
    if isinstance(a, np.generic):
        if isinstance(a, np.floating) and np.isnan(a) and np.isnan(b):
            return None
        if a == b:
            return None
        if isinstance(a, np.floating) and _within_rounding(where, _relative(float(a), float(b))):
            return None
        return f"{where}: {a!r} != {b!r}"
    if isinstance(a, np.random.Generator):
        return difference(a.bit_generator.state, b.bit_generator.state, f"{where}.state")
    if isinstance(a, np.random.RandomState):
        return difference(a.get_state(legacy=False), b.get_state(legacy=False), f"{where}.state")
    return _eq_or_pickle_difference(a, b, where)


def _arrays_round_alike(a: Any, b: Any, where: str) -> bool:
    """Float arrays of one shape whose elements differ by rounding only (same NaN/inf)."""
    import numpy as np

    if a.dtype.kind not in "fc" or a.size == 0:
        return False
    with np.errstate(all="ignore"):
        finite = np.isfinite(a) & np.isfinite(b)
        others = a[~finite], b[~finite]
        if not ((others[0] == others[1]) | (np.isnan(others[0]) & np.isnan(others[1]))).all():
            return False
        x, y = a[finite], b[finite]
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.abs(x - y) / np.where(scale == 0, 1, scale)
    return _within_rounding(where, float(rel.max()) if rel.size else 0.0)


def _pandas_difference(a: Any, b: Any, where: str) -> str | None:
    import pandas as pd

    checks = {
        pd.DataFrame: pd.testing.assert_frame_equal,
        pd.Series: pd.testing.assert_series_equal,
    }
    for kind, check in checks.items():
        if isinstance(a, kind):
            try:
                check(a, b, check_exact=True)
            except AssertionError as exc:
                first = str(exc).strip().splitlines()
                try:  # the same but for the last bits of some floats?
                    check(a, b, check_exact=False, rtol=ROUNDING, atol=0.0)
                except AssertionError:
                    return f"{where}: {' '.join(first[:3])}"
                _within_rounding(where, ROUNDING)  # an upper bound: pandas does not say
            return None
    if isinstance(a, pd.Index):
        return None if a.equals(b) and a.dtype == b.dtype else f"{where}: indexes differ"
    return _eq_or_pickle_difference(a, b, where)


def compare_saved(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each ``{"expected": PATH, "actual": PATH, ...}`` add ``"difference"``/``"error"``."""
    from .artifacts import load_value, read_meta

    out = []
    for pair in pairs:
        item = dict(pair)
        try:
            me, ma = read_meta(pair["expected"]), read_meta(pair["actual"])
            if me["backend"] == ma["backend"] and me["digest"] == ma["digest"]:
                item["difference"] = None  # same bytes: equal without loading large values
            else:
                with collecting_rounding() as rounded:
                    item["difference"] = difference(
                        load_value(pair["expected"]),
                        load_value(pair["actual"]),
                        pair.get("variable", ""),
                    )
                if rounded and item["difference"] is None:
                    item["rounding"] = max(rel for _, rel in rounded)
        except Exception as exc:
            item["error"] = f"{type(exc).__name__}: {exc}"
        out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    """Replay the prelude, then compare the job's pairs of saved values."""
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    from . import marshal
    from .execute import CellRunner

    runner = CellRunner()
    try:
        before = dict(runner.ns)
        problems = []
        for cell in job.get("prelude", []):
            res = runner.run(cell["index"], cell["source"])
            if res.error is not None:
                problems.append(
                    f"{cell_label(cell['index'])}: {res.error.exc_type}: {res.error.message}"
                )
        marshal.pickle_new_definitions(runner.ns, before)
        results = compare_saved(job["pairs"])
    finally:
        runner.close()
    Path(job["result_path"]).write_text(
        json.dumps({"results": results, "prelude_errors": problems}, default=repr),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
