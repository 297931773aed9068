"""Cost model of a step split: how long cells take and how big the values crossing a
boundary are, estimated from the code, or measured by an earlier local run; DAG width.

Pure. Estimates are coarse on purpose: they only rank boundaries against each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .dag import ancestors

# Per-step overhead of the local engine (process start, load/save of variables): a boundary
# is only worth it when it buys parallelism or separates substantial work.
STEP_OVERHEAD = 0.3
BYTES_PER_SECOND = 200e6  # saving + loading a value through the artifact store

# Calls whose name says "heavy": reading data, fitting, searching (seconds, very roughly).
_HEAVY: dict[str, float] = {
    **dict.fromkeys(
        "read_csv read_parquet read_excel read_json read_sql read_table read_feather"
        " read_pickle loadtxt genfromtxt load_dataset fetch_openml".split(),
        0.5,
    ),
    **dict.fromkeys("fit fit_transform partial_fit train fit_predict".split(), 2.0),
    **dict.fromkeys("GridSearchCV RandomizedSearchCV cross_val_score cross_validate".split(), 5.0),
    **dict.fromkeys("predict predict_proba transform score evaluate".split(), 0.2),
    **dict.fromkeys("merge join groupby pivot_table apply map sort_values".split(), 0.05),
}
_LOOP_FACTOR = 10.0
_STATEMENT = 0.002

# Bytes of a value by its likely kind (analysis/kinds.py) when nothing better is known.
_KIND_BYTES = {
    "num": 32,
    "str": 100,
    "bytes": 1_000,
    "range": 48,
    "tuple": 1_000,
    "frozenset": 1_000,
    "list": 10_000,
    "dict": 10_000,
    "set": 10_000,
    "rng": 5_000,
}
UNKNOWN_BYTES = 1_000_000  # a DataFrame, an array, a model: unknown, assume a megabyte
_LOADED_BYTES = 10_000_000  # a value a read_* call returned: a data set


@dataclass(frozen=True)
class History:
    """What an earlier local run measured: seconds per cell (by notebook cell index, only
    for cells whose source is unchanged) and bytes per variable it saved."""

    run_id: str
    cell_seconds: Mapping[int, float] = field(default_factory=dict)
    var_bytes: Mapping[str, int] = field(default_factory=dict)


def call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def estimate_seconds(tree: ast.AST | None) -> float:
    """A rough run time of one cell from its statements and the calls it makes."""
    if tree is None:
        return _STATEMENT

    def cost(node: ast.AST, factor: float) -> float:
        total = 0.0
        if isinstance(node, ast.stmt):
            total += _STATEMENT * factor
        if isinstance(node, ast.Call):
            total += _HEAVY.get(call_name(node) or "", 0.0) * factor
        inner = factor * _LOOP_FACTOR if isinstance(node, (ast.For, ast.While)) else factor
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            inner = factor * _LOOP_FACTOR
        for child in ast.iter_child_nodes(node):
            total += cost(child, inner)
        return total

    return max(cost(tree, 1.0), _STATEMENT)


def literal_bytes(tree: ast.AST | None) -> dict[str, int]:
    """Bytes of names bound to a literal (``x = [1, 2]``: the literal's length), and of
    names bound to what a ``read_*`` call returned (a data set)."""
    out: dict[str, int] = {}
    if not isinstance(tree, ast.Module):
        return out
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        try:
            out[target.id] = len(repr(ast.literal_eval(node.value)))
            continue
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node.value, ast.Call) and (call_name(node.value) or "").startswith("read_"):
            out[target.id] = _LOADED_BYTES
    return out


def value_bytes(
    var: str, kinds: Mapping[str, str], literals: Mapping[str, int], history: History | None
) -> tuple[int, bool]:
    """(bytes, measured) of one variable."""
    if history is not None and var in history.var_bytes:
        return int(history.var_bytes[var]), True
    if var in literals:
        return literals[var], False
    return _KIND_BYTES.get(kinds.get(var, ""), UNKNOWN_BYTES), False


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def width(order: list[str], preds: Mapping[str, Iterable[str]]) -> int:
    """Largest set of steps no two of which depend on each other (Dilworth: nodes minus a
    maximum matching of the comparability graph)."""
    if not order:
        return 0
    anc = ancestors(order, preds)
    masks = {n: anc.bits(n) for n in order}  # bit i: order[i]
    index = {n: i for i, n in enumerate(order)}
    later = {n: [m for m in order if masks[m] >> index[n] & 1] for n in order}
    match: dict[str, str] = {}

    def augment(n: str, seen: set[str]) -> bool:
        for m in later[n]:
            if m in seen:
                continue
            seen.add(m)
            if m not in match or augment(match[m], seen):
                match[m] = n
                return True
        return False

    matched = sum(1 for n in order if augment(n, set()))
    return len(order) - matched


def critical_path(
    order: list[str], preds: Mapping[str, Iterable[str]], seconds: Mapping[str, float]
) -> float:
    """Length of the longest chain, each step costing its seconds plus the step overhead."""
    finish: dict[str, float] = {}
    for n in order:
        start = max((finish[p] for p in preds.get(n, ())), default=0.0)
        finish[n] = start + seconds.get(n, 0.0) + STEP_OVERHEAD
    return max(finish.values(), default=0.0)
