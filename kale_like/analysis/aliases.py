"""Names that share one object: ``a = b``, ``a = [b]``, ``a = d.get(k)``...

Mutating through one name changes the others, so the walker writes them all; names
that share an object are also saved by the same step so the sharing survives a step
boundary. The walker's layer above :class:`~kale_like.analysis.kinds.KindRules` (a
string or number shares nothing); the map itself is
:class:`~kale_like.analysis.base.AliasMap`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from . import rules
from .kinds import ATOMIC, KindRules


class AliasRules(KindRules):
    """Alias bookkeeping of the walker."""

    def alias_roots(self, node: ast.AST) -> frozenset[str]:
        if isinstance(node, ast.Name):
            if node.id in self.modmap or self.kind_of(node) in ATOMIC:
                return frozenset()  # a str or number: sharing it changes nothing
            return frozenset({node.id}) | self.aliases.get(node.id, frozenset())
        if isinstance(node, ast.Subscript) and self.slice_copies(node):
            return frozenset()  # a list slice is a new list (a numpy slice is a view)
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            return self.alias_roots(node.value)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):  # a = [b]: a holds b
            return frozenset().union(*(self.alias_roots(e) for e in node.elts))
        if isinstance(node, ast.Dict):
            return frozenset().union(*(self.alias_roots(v) for v in node.values))
        if isinstance(node, ast.IfExp):  # a = b if c else d
            return self.alias_roots(node.body) | self.alias_roots(node.orelse)
        if isinstance(node, ast.BoolOp):  # a = b or d
            return frozenset().union(*(self.alias_roots(v) for v in node.values))
        if isinstance(node, ast.NamedExpr):
            return self.alias_roots(node.value)
        if isinstance(node, ast.Call):
            f = node.func
            # Calls that hand back (part of) an existing object: d.get(k), getattr(o, n)...
            if isinstance(f, ast.Attribute) and f.attr in rules.RETURNS_PART:
                return self.alias_roots(f.value)
            if isinstance(f, ast.Name) and f.id in rules.RETURNS_ARG and f.id not in self.defined:
                if f.id in ("max", "min") and len(node.args) == 1:
                    # An item of one iterable, like `sorted(xs)`'s items: not tracked.
                    return frozenset()
                return frozenset().union(*(self.alias_roots(a) for a in node.args))
            if isinstance(f, ast.Name) and f.id in rules.LAZY_BUILTINS and self.is_builtin(f.id):
                # map(g, it): consuming the result consumes the iterator it wraps.
                args = [a.value if isinstance(a, ast.Starred) else a for a in node.args]
                return frozenset().union(*(self.alias_roots(a) for a in args if self.is_iter(a)))
        return frozenset()

    def alias_plan(self, t: ast.AST, value: ast.AST) -> list[tuple[str, frozenset[str], bool]]:
        """(name, names whose objects it will share, whole object?) per name ``t = value``
        binds; ``a = b`` shares b's whole object, ``a = b[0]`` a part of it."""
        if isinstance(t, ast.Name):
            roots = self.alias_roots(value) - {t.id}
            return [(t.id, roots, is_whole(value))] if roots else []
        plan: list[tuple[str, frozenset[str], bool]] = []
        if isinstance(t, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            if len(t.elts) == len(value.elts):
                for te, ve in zip(t.elts, value.elts, strict=True):
                    plan += self.alias_plan(te, ve)
        return plan

    def store(self, t: ast.AST, value: ast.expr) -> None:
        """``o.v = a`` / ``d[k] = a``: the object rooted at ``o`` / ``d`` now holds a's."""
        if isinstance(t, ast.Attribute | ast.Subscript):
            root = self.root(t)
            if root is not None:
                self.hold(root, [value], t)

    def hold(self, container: str, values: list[ast.expr], at: ast.AST) -> None:
        """``o.v = a``, ``d[k] = a``, ``setattr(o, n, a)``, ``lst.append(a)``: the container
        now holds a's object, so a later change of ``a`` changes it too."""
        if container in self.modmap or self._local(container):
            return
        roots = frozenset().union(*(self.alias_roots(v) for v in values)) - {container}
        if roots:
            merged = self.aliases.get(container, frozenset()) | roots
            self.alias(at, [(container, merged, False)])

    def alias(self, t: ast.AST, plan: list[tuple[str, frozenset[str], bool]]) -> None:
        for name, roots, whole in plan:
            self.aliases[name] = roots
            if self.scope is not None:
                continue
            if not whole:
                for r in sorted(roots):  # saved with the part taken from it, when at hand
                    if (
                        r in self.facts.reads
                        or r in self.facts.soft_reads
                        or r in self.facts.writes
                    ):
                        self.facts.writes[r] = self.loc(t)
                continue
            # The names now share one object: save them all (with every other name already
            # sharing it) from this step so the sharing survives the step boundary (a later
            # `name.append` changes all of them).
            group = set().union(*(self.aliases.sharing(r) for r in roots)) - {name}
            for r in sorted(group):
                if r not in self.modmap and not self._local(r):
                    self.read(r, t)
                    self.facts.writes[r] = self.loc(t)
                    self.facts.deleted.pop(r, None)


def is_whole(value: ast.AST) -> bool:
    """Does ``x = value`` make x the very object another name holds (not a part of it)?"""
    if isinstance(value, ast.Name):
        return True
    if isinstance(value, ast.IfExp):
        return is_whole(value.body) or is_whole(value.orelse)
    if isinstance(value, ast.BoolOp):
        return any(is_whole(v) for v in value.values)
    if isinstance(value, ast.NamedExpr):
        return is_whole(value.value)
    return False


def merge_aliases(*maps: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Union of alias maps (an alias that holds on any path may hold)."""
    out: dict[str, frozenset[str]] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, frozenset()) | v
    return out
