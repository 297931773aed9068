"""Likely kinds of values: enough to tell which calls only read a value.

A *kind* is a coarse guess of a value's type, made where the value is created (a literal,
``list(...)``, ``iter(...)``, a string method...) and carried from step to step like the
aliases. Only kinds whose rules differ from the default are tracked:

- ``str``, ``num``, ``bytes``, ``range``: immutable and holding no other object — no method
  changes them and names bound to them never need to travel together;
- ``tuple``, ``frozenset``: immutable containers (their items may still be shared);
- ``list``, ``dict``, ``set``: known read-only methods, and slices of a list are copies;
- ``iter``: iterators, generators and files — reading one (``max(it)``, ``for v in it``,
  any method) consumes it, so it is a write;
- ``rng``: a random generator object — every draw changes it.

Anything else has no kind: then a method is a write unless listed in
:data:`~kale_like.analysis.rules.PURE_METHODS`, and a slice may be a view (numpy, pandas).
The walker's first layer above :class:`~kale_like.analysis.base.WalkerBase`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from ..model import Parameter
from . import rules
from .base import WalkerBase

ATOMIC = frozenset({"str", "num", "bytes", "range"})
IMMUTABLE = ATOMIC | {"tuple", "frozenset"}
COPY_ON_SLICE = frozenset({"list", "str", "bytes", "tuple", "range"})

_READ_ONLY: dict[str, frozenset[str]] = {
    "list": frozenset({"copy", "count", "index"}),
    "dict": frozenset({"copy", "get", "keys", "values", "items", "fromkeys"}),
    "set": frozenset(
        "copy difference intersection union symmetric_difference issubset issuperset"
        " isdisjoint".split()
    ),
    "rng": frozenset({"getstate", "get_state", "bit_generator", "spawn"}),
}

_BUILTIN_RESULT: dict[str, str] = {
    **dict.fromkeys("str repr ascii format chr input hex oct bin".split(), "str"),
    **dict.fromkeys(
        "int float complex bool len ord hash id isinstance issubclass callable hasattr any"
        " all".split(),
        "num",
    ),
    **dict.fromkeys("list sorted".split(), "list"),
    "dict": "dict",
    "set": "set",
    "frozenset": "frozenset",
    "tuple": "tuple",
    "bytes": "bytes",
    "range": "range",
    **dict.fromkeys(rules.LAZY_BUILTINS | {"open"}, "iter"),
}
_STR_TO = {
    **dict.fromkeys("split rsplit splitlines".split(), "list"),
    **dict.fromkeys("partition rpartition".split(), "tuple"),
    **dict.fromkeys(
        "count find rfind index rindex startswith endswith isascii isprintable isdigit isalpha"
        " isalnum isspace isupper islower isnumeric isdecimal isidentifier istitle".split(),
        "num",
    ),
    "encode": "bytes",
    "maketrans": "dict",
}
_SEQ = frozenset({"str", "list", "tuple", "bytes"})


def _combine(a: str | None, op: ast.operator, b: str | None) -> str | None:
    """The kind of ``a <op> b``."""
    if a == "str" and isinstance(op, ast.Mod):
        return "str"  # "%s" % x
    if a == b and a in ("num", "str", "list", "tuple", "bytes"):
        return a if a == "num" or isinstance(op, ast.Add) else None
    if isinstance(op, ast.Mult) and {a, b} in ({"str", "num"}, {"list", "num"}):
        return a if a != "num" else b
    return None


def merge_kinds(*maps: Mapping[str, str]) -> dict[str, str]:
    """Kinds that hold on every path (a name whose kind differs between paths has none)."""
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


class KindRules(WalkerBase):
    """The walker's guesses of value kinds."""

    def kind_of(self, node: ast.AST | None) -> str | None:
        """The likely kind of the value of expression ``node`` (None: unknown)."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, str):
                return "str"
            if isinstance(v, bytes):
                return "bytes"
            return "num" if v is None or isinstance(v, (int, float, complex)) else None
        if isinstance(node, ast.JoinedStr):
            return "str"
        if isinstance(node, (ast.List, ast.ListComp)):
            return "list"
        if isinstance(node, (ast.Dict, ast.DictComp)):
            return "dict"
        if isinstance(node, (ast.Set, ast.SetComp)):
            return "set"
        if isinstance(node, ast.Tuple):
            return "tuple"
        if isinstance(node, ast.GeneratorExp):
            return "iter"
        if isinstance(node, ast.Name):
            return self.kinds.get(node.id) if node.id not in self.modmap else None
        if isinstance(node, ast.NamedExpr):
            return self.kind_of(node.value)
        if isinstance(node, ast.Compare):
            return "num"
        if isinstance(node, ast.BoolOp):
            found = {self.kind_of(v) for v in node.values}
            return found.pop() if len(found) == 1 else None
        if isinstance(node, ast.UnaryOp):
            k = self.kind_of(node.operand)
            return "num" if k == "num" or isinstance(node.op, ast.Not) else None
        if isinstance(node, ast.IfExp):
            a, b = self.kind_of(node.body), self.kind_of(node.orelse)
            return a if a == b else None
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Subscript):
            k = self.kind_of(node.value)
            if isinstance(node.slice, ast.Slice):
                return k if k in COPY_ON_SLICE else None
            return {"str": "str", "bytes": "num", "range": "num"}.get(k or "")
        if isinstance(node, ast.Call):
            return self._call_kind(node)
        return None

    def _binop(self, node: ast.BinOp) -> str | None:
        # `a + b + c + ...` nests to the left: fold it without recursion.
        chain: list[ast.BinOp] = []
        cur: ast.expr = node
        while isinstance(cur, ast.BinOp):
            chain.append(cur)
            cur = cur.left
        kind = self.kind_of(cur)
        for op in reversed(chain):
            kind = _combine(kind, op.op, self.kind_of(op.right))
        return kind

    def _call_kind(self, node: ast.Call) -> str | None:
        f = node.func
        if isinstance(f, ast.Name):
            if self.is_builtin(f.id):
                return _BUILTIN_RESULT.get(f.id)
            facts = self.lookup(f.id)
            return "iter" if facts is not None and facts.generator else None
        q = self.qualify(f)
        if q is not None:
            return rules.qualified_kind(q)
        if isinstance(f, ast.Attribute):
            k = self.kind_of(f.value)
            if f.attr == "copy" and k in ("list", "dict", "set"):
                return k
            if k == "str":
                return _STR_TO.get(f.attr, "str")
            if k == "bytes":
                return _STR_TO.get(f.attr, "bytes") if f.attr != "decode" else "str"
            if k == "set" and f.attr in _READ_ONLY["set"] - {"copy"}:
                return "num" if f.attr.startswith("is") else "set"
        return None

    def method_writes(self, receiver: ast.AST, method: str, inplace: bool) -> bool:
        """Does calling ``receiver.method(...)`` change the receiver's object?"""
        k = self.kind_of(receiver)
        if k in IMMUTABLE:
            return False
        if k == "iter":
            return True  # files and generators move on whatever is called
        if k in _READ_ONLY:
            return method not in _READ_ONLY[k]
        return method not in rules.PURE_METHODS or inplace

    def is_iter(self, node: ast.AST) -> bool:
        return self.kind_of(node) == "iter"

    def consume(self, node: ast.AST, at: ast.AST) -> None:
        """Iterating ``node`` (a call argument, a `for` loop) changes it if it is an iterator."""
        if self.is_iter(node):
            root = self.root(node)
            if root:
                self.mutate(root, at)

    def kind_plan(self, t: ast.AST, value: ast.AST) -> list[tuple[str, str]]:
        """The likely kinds of the names ``t = value`` binds (taken before binding them)."""
        if isinstance(t, ast.Name):
            k = self.kind_of(value)
            return [(t.id, k)] if k is not None else []
        plan: list[tuple[str, str]] = []
        if isinstance(t, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List):
            if len(t.elts) == len(value.elts) and not any(
                isinstance(e, ast.Starred) for e in [*t.elts, *value.elts]
            ):
                for te, ve in zip(t.elts, value.elts, strict=True):
                    plan += self.kind_plan(te, ve)
        return plan

    def slice_copies(self, node: ast.Subscript) -> bool:
        """``xs[a:b]`` of a list (or a str, tuple...) is a new object; numpy's is a view."""
        return isinstance(node.slice, ast.Slice) and self.kind_of(node.value) in COPY_ON_SLICE

    def live_kinds(self) -> dict[str, str]:
        """Kinds of the names still bound at the end of the step (carried to the next)."""
        # A copy minus the few deleted names: a filtering pass over every carried name
        # would make the whole notebook quadratic.
        live = dict(self.kinds)
        for n in self.facts.deleted:
            live.pop(n, None)
        return live


_PARAM_KINDS = {"str": "str", "int": "num", "float": "num", "bool": "num", "none": "num"}
_PARAM_KINDS.update({"list": "list", "dict": "dict"})


def param_kinds(parameters: Iterable[Parameter]) -> dict[str, str]:
    """Kinds of the pipeline parameters (literals), as every step first sees them."""
    return {p.name: _PARAM_KINDS[p.type] for p in parameters if p.type in _PARAM_KINDS}
