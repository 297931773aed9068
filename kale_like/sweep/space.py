"""Search spaces over pipeline parameters: parse ``NAME=SPEC``, enumerate and sample. Pure.

Spec grammar (values are typed like the parameter's default)::

    choice:a,b,c           categorical
    range:min:max:step     an int/float grid; max is included when it lands on a step
    uniform:min:max        a float drawn uniformly
    loguniform:min:max     a float drawn uniformly in log space (min > 0)
    int:min:max            an int drawn uniformly, both ends included

Kale's ``katib_metadata`` parameters (``parameterType`` int/double/categorical/discrete with a
``feasibleSpace``) map onto the same kinds, so the notebook, the CLI and Katib share one space.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import UsageError
from ..model import Parameter, Pipeline

KINDS = ("choice", "range", "uniform", "loguniform", "int")
GRIDDABLE = ("choice", "range", "int")
_NUMERIC = ("int", "float")
_MAX_GRID = 1_000_000  # a grid larger than this is a typo, not a sweep


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: its kind, bounds or values, and the parameter's type."""

    name: str
    kind: str  # one of KINDS
    type: str  # the parameter's type (model.PARAM_TYPES)
    values: tuple[Any, ...] = ()  # choice: typed values
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    spec: str = ""  # the text it was parsed from (kept for resume and display)

    def size(self, points: int | None = None) -> int:
        """How many values :meth:`grid` has, without building it."""
        if self.kind == "choice":
            return len(self.values)
        if self.kind == "int":
            return int(self.high) - int(self.low) + 1  # type: ignore[arg-type]
        if self.kind == "range":
            lo, hi, st = (Decimal(str(x)) for x in (self.low, self.high, self.step))
            return int((hi - lo) / st) + 1
        if not points:
            self.grid()  # raises the "needs --grid-points" error
        return int(points or 0)

    def grid(self, points: int | None = None) -> list[Any]:
        """Every value of a grid dimension; uniform/loguniform need ``points``."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            if self.size() > _MAX_GRID:
                raise UsageError(
                    f"int:{self.low}:{self.high} has {self.size()} points: too many for a grid",
                    kind="bad-search-space",
                )
            return [self._typed(v) for v in range(int(self.low), int(self.high) + 1)]  # type: ignore[arg-type]
        if self.kind == "range":
            return [self._typed(v) for v in _range_values(self.low, self.high, self.step)]
        if not points:
            raise UsageError(
                f"grid search cannot enumerate {self.kind} parameter {self.name!r} ({self.spec})",
                kind="bad-search-space",
                fix="pass --grid-points N, or use choice:/range:/int: for this parameter",
            )
        if points == 1:
            return [self._typed(self.low)]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind == "loguniform":
            lo, hi = math.log(lo), math.log(hi)
            vals = [math.exp(lo + (hi - lo) * i / (points - 1)) for i in range(points)]
        else:
            vals = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
        return [self._typed(v) for v in vals]

    def sample(self, rng: random.Random) -> Any:
        """One random value (uniform over the grid for choice/range, continuous otherwise)."""
        if self.kind == "choice":
            return rng.choice(self.values)
        if self.kind == "range":  # a random grid point, without building the grid
            start, stride = Decimal(str(self.low)), Decimal(str(self.step))
            value = start + stride * rng.randrange(self.size())
            as_int = all(isinstance(x, int) for x in (self.low, self.high, self.step))
            return self._typed(int(value) if as_int else float(value))
        if self.kind == "int":
            return self._typed(rng.randint(int(self.low), int(self.high)))  # type: ignore[arg-type]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind == "loguniform":
            return self._typed(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return self._typed(rng.uniform(lo, hi))

    def _typed(self, value: Any) -> Any:
        if self.type == "int":
            return int(round(value))
        if self.type == "float":
            return float(value)
        return value

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "spec": self.spec, "type": self.type}


def _range_values(low: Any, high: Any, step: Any) -> list[Any]:
    # Decimal arithmetic so range:0.1:0.3:0.1 gives 0.1, 0.2, 0.3 (max lands on a step).
    lo, hi, st = (Decimal(str(x)) for x in (low, high, step))
    count = int((hi - lo) / st) + 1
    if count > _MAX_GRID:
        raise UsageError(f"range {low}:{high}:{step} has {count} points", kind="bad-search-space")
    out = [lo + st * i for i in range(count)]
    as_int = all(isinstance(x, int) for x in (low, high, step))
    return [int(v) if as_int else float(v) for v in out]


def _bad(name: str, spec: str, why: str, fix: str | None = None) -> UsageError:
    return UsageError(
        f"bad search space for parameter {name!r} ({spec!r}): {why}",
        kind="bad-search-space",
        fix=fix
        or "use choice:a,b,c | range:min:max:step | uniform:min:max | "
        "loguniform:min:max | int:min:max",
    )


def _number(name: str, spec: str, text: str, want_int: bool = False) -> int | float:
    text = text.strip()
    try:
        if want_int:
            return int(text)
        d = Decimal(text)
    except (ValueError, InvalidOperation):
        kind = "an integer" if want_int else "a number"
        raise _bad(name, spec, f"{text!r} is not {kind}") from None
    if not d.is_finite():
        raise _bad(name, spec, f"{text!r} is not a finite number")
    # "3" stays an int (range:1:5:1 over an int parameter); "3.0" and "1e-3" are floats.
    looks_int = "." not in text and "e" not in text.lower()
    return int(d) if looks_int and d == d.to_integral_value() else float(d)


def _choice_value(param: Parameter, spec: str, text: str) -> Any:
    text = text.strip()
    ptype = param.type
    try:
        if ptype == "int":
            return int(text)
        if ptype == "float":
            return float(Decimal(text))
    except (ValueError, InvalidOperation):
        why = f"{text!r} is not {ptype} like the default {param.default!r}"
        raise _bad(param.name, spec, why) from None
    if ptype == "bool":
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise _bad(param.name, spec, f"{text!r} is not a bool (true/false)")
    if ptype == "none":
        from ..params import parse_value

        return parse_value(text)
    return text


def parameter_for(pipeline: Pipeline, name: str) -> Parameter:
    """The pipeline parameter ``name``, or UsageError listing the valid ones."""
    try:
        return pipeline.parameter(name)
    except KeyError:
        names = ", ".join(p.name for p in pipeline.parameters)
        raise UsageError(
            f"cannot sweep {name!r}: not a pipeline parameter; valid parameters: "
            + (names or "none (the notebook has no parameters cell)"),
            kind="unknown-parameter",
            fix="sweep only names assigned in the cell tagged `pipeline-parameters`",
        ) from None


def parse_dimension(param: Parameter, spec: str) -> Dimension:
    """``SPEC`` text for ``param`` -> a Dimension, or UsageError naming the parameter."""
    name = param.name
    if not isinstance(spec, str) or ":" not in spec:
        raise _bad(name, str(spec), "expected KIND:..., KIND one of " + ", ".join(KINDS))
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise _bad(name, spec, f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if param.type in ("list", "dict"):
        raise _bad(name, spec, f"{param.type} parameters cannot be swept from the command line")
    if kind == "choice":
        items = [t for t in rest.split(",")]
        if not rest.strip() or any(not t.strip() for t in items):
            raise _bad(name, spec, "choice needs a comma-separated list of non-empty values")
        values = tuple(_choice_value(param, spec, t) for t in items)
        return Dimension(name, kind, param.type, values=values, spec=spec)
    if param.type not in _NUMERIC and param.type != "none":
        raise _bad(
            name,
            spec,
            f"{kind}: needs a numeric parameter, {name!r} is {param.type}",
            fix=f"use choice: for a {param.type} parameter",
        )
    parts = rest.split(":")
    want = 3 if kind == "range" else 2
    if len(parts) != want:
        form = "range:min:max:step" if kind == "range" else f"{kind}:min:max"
        raise _bad(name, spec, f"expected {form}")
    ints = kind == "int"
    nums = [_number(name, spec, p, want_int=ints) for p in parts]
    low, high = nums[0], nums[1]
    if low > high:
        raise _bad(name, spec, f"min {low} is greater than max {high}")
    if kind == "loguniform" and low <= 0:
        raise _bad(name, spec, "loguniform needs min > 0")
    if kind in ("uniform", "loguniform") and param.type == "int":
        raise _bad(
            name,
            spec,
            f"{kind}: draws floats but {name!r} is an int",
            fix=f"use int:{low}:{high} or range:min:max:step",
        )
    step = None
    if kind == "range":
        step = nums[2]
        if step <= 0:
            raise _bad(name, spec, "step must be > 0")
        if param.type == "int" and not all(isinstance(x, int) for x in nums):
            raise _bad(name, spec, f"{name!r} is an int: min, max and step must be integers")
        dim = Dimension(name, kind, param.type, low=low, high=high, step=step, spec=spec)
        return dim
    return Dimension(name, kind, param.type, low=low, high=high, spec=spec)


def parse_space(pipeline: Pipeline, params: Mapping[str, Any] | Iterable[str]) -> list[Dimension]:
    """``["NAME=SPEC", ...]`` or ``{NAME: SPEC | [values]}`` -> dimensions (order kept)."""
    items: list[tuple[str, Any]] = []
    if isinstance(params, Mapping):
        items = list(params.items())
    else:
        for text in params:
            name, sep, spec = str(text).partition("=")
            if not sep or not name.strip():
                raise UsageError(
                    f"bad --param {text!r}: expected NAME=SPEC, e.g. lr=loguniform:1e-4:1e-1",
                    kind="bad-search-space",
                )
            items.append((name.strip(), spec.strip()))
    if not items:
        raise UsageError(
            "nothing to sweep: no --param given and no katib_metadata parameters in the notebook",
            kind="bad-search-space",
            fix="pass --param NAME=SPEC (e.g. --param lr=loguniform:1e-4:1e-1)",
        )
    dims: list[Dimension] = []
    seen: set[str] = set()
    for name, spec in items:
        param = parameter_for(pipeline, name)
        if name in seen:
            raise UsageError(f"parameter {name!r} is swept twice", kind="bad-search-space")
        seen.add(name)
        if isinstance(spec, (list, tuple)):
            spec = "choice:" + ",".join(str(v) for v in spec)
        dims.append(parse_dimension(param, spec))
    return dims


def grid_size(dims: list[Dimension], points: int | None = None) -> int:
    n = 1
    for d in dims:
        n *= d.size(points)
        if n > _MAX_GRID:
            raise UsageError(f"the grid has more than {_MAX_GRID} points", kind="bad-search-space")
    return n


# --- Kale katib_metadata <-> specs ---------------------------------------------------


def spec_from_katib(entry: Mapping[str, Any]) -> tuple[str, str]:
    """One Kale ``katib_metadata.parameters`` entry -> ``(name, SPEC)``."""
    name = str(entry.get("name", "")).strip()
    ptype = str(entry.get("parameterType", "")).strip().lower()
    space = entry.get("feasibleSpace") or {}
    if not name or not isinstance(space, Mapping):
        raise UsageError(
            f"katib_metadata parameter {dict(entry)!r} needs a name and a feasibleSpace",
            kind="bad-search-space",
        )
    values = space.get("list")
    if ptype in ("categorical", "discrete") or values:
        if not values:
            raise _bad(name, str(dict(space)), f"{ptype} needs feasibleSpace.list")
        return name, "choice:" + ",".join(str(v) for v in values)
    lo, hi, step = space.get("min"), space.get("max"), space.get("step")
    if lo is None or hi is None:
        raise _bad(name, str(dict(space)), "feasibleSpace needs min and max")
    if step not in (None, ""):
        return name, f"range:{lo}:{hi}:{step}"
    if ptype == "int":
        return name, f"int:{lo}:{hi}"
    dist = str(space.get("distribution", "")).lower()
    return name, f"{'loguniform' if dist == 'loguniform' else 'uniform'}:{lo}:{hi}"


def katib_parameter(dim: Dimension) -> dict[str, Any]:
    """A Katib ``ParameterSpec`` (feasibleSpace values are strings, as Katib's API wants)."""
    if dim.kind == "choice":
        return {
            "name": dim.name,
            "parameterType": "categorical",
            "feasibleSpace": {"list": [_katib_str(v) for v in dim.values]},
        }
    ptype = "int" if dim.type == "int" or dim.kind == "int" else "double"
    space: dict[str, Any] = {"min": _katib_str(dim.low), "max": _katib_str(dim.high)}
    if dim.kind == "range":
        space["step"] = _katib_str(dim.step)
    if dim.kind == "loguniform":  # uniform is Katib's default: leave it unsaid
        space["distribution"] = "logUniform"
    return {"name": dim.name, "parameterType": ptype, "feasibleSpace": space}


def _katib_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
