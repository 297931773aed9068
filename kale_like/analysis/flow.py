"""Control flow: what is *definitely* bound after ``if``/``for``/``while``/``try``/``match``.

A branch or loop body may not run, so names it binds do not hide later reads, and an
alias it breaks may still hold afterwards. The walker's layer above
:class:`~kale_like.analysis.aliases.AliasRules`.
"""

from __future__ import annotations

import ast

from .aliases import AliasRules, merge_aliases
from .kinds import merge_kinds


class FlowRules(AliasRules):
    """Statements with branches and loops."""

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.expr(node.iter)
        self.consume(node.iter, node)
        snap = set(self.defined)
        kinds = dict(self.kinds)
        self.depth += 1
        self.target(node.target)
        it = node.iter
        if isinstance(it, (ast.Tuple, ast.List, ast.Set)):
            roots: frozenset[str] = frozenset().union(*(self.alias_roots(e) for e in it.elts))
        else:
            roots = self.alias_roots(it)
        if isinstance(node.target, ast.Name) and roots:
            self.aliases[node.target.id] = roots - {node.target.id}
        self.loop_body(node.body)
        self.stmts(node.orelse)
        self.depth -= 1
        self.defined = snap
        self.kinds = merge_kinds(kinds, self.kinds)  # the body may not run

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self.expr(node.test)
        snap = set(self.defined)
        kinds = dict(self.kinds)
        self.depth += 1
        self.loop_body(node.body)
        self.stmts(node.orelse)
        self.depth -= 1
        self.defined = snap
        self.kinds = merge_kinds(kinds, self.kinds)

    def loop_body(self, body: list[ast.stmt]) -> None:
        """A loop body may run 0..n times: aliases it creates reach its next iteration."""
        before = dict(self.aliases)
        self.stmts(body)
        merged = merge_aliases(before, self.aliases)
        if merged != self.aliases or merged != before:
            self.aliases = merged
            self.stmts(body)
            self.aliases = merge_aliases(merged, self.aliases)

    def visit_If(self, node: ast.If) -> None:
        self.expr(node.test)
        snap = set(self.defined)
        before = dict(self.aliases)
        kinds = dict(self.kinds)
        self.depth += 1
        self.stmts(node.body)
        after_body, body_aliases, body_kinds = self.defined, self.aliases, self.kinds
        self.defined, self.aliases, self.kinds = set(snap), dict(before), dict(kinds)
        self.stmts(node.orelse)
        self.depth -= 1
        self.defined = snap | (after_body & self.defined)
        self.kinds = merge_kinds(body_kinds, self.kinds)
        # A branch may not run: an alias it breaks may still hold afterwards.
        self.aliases = merge_aliases(before, body_aliases, self.aliases)

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.expr(item.context_expr)
            if item.optional_vars is not None:
                self.target(item.optional_vars)
        if any(_suppresses(item.context_expr) for item in node.items):
            # `with suppress(E):` is a `try` in disguise: its body may stop half-way.
            snap, kinds = set(self.defined), dict(self.kinds)
            self.depth += 1
            self.stmts(node.body)
            self.depth -= 1
            self.defined = snap
            self.kinds = merge_kinds(kinds, self.kinds)
            return
        self.stmts(node.body)

    visit_AsyncWith = visit_With

    def visit_Try(self, node: ast.Try) -> None:
        snap = set(self.defined)
        before = dict(self.aliases)
        kinds = dict(self.kinds)
        self.depth += 1
        self.stmts(node.body)
        self.stmts(node.orelse)
        outcomes = [self.defined]
        alias_maps = [before, self.aliases]
        kind_maps = [kinds, self.kinds]
        for h in node.handlers:
            self.defined = set(snap)
            self.aliases = merge_aliases(*alias_maps)
            self.kinds = merge_kinds(*kind_maps)  # the body may stop anywhere
            if h.type is not None:
                self.expr(h.type)
            if h.name:
                self.write(h.name, h)
            self.stmts(h.body)
            if h.name and self.scope is None:
                self.facts.writes.pop(h.name, None)  # Python unbinds `e` after the handler
                self.defined.discard(h.name)
            outcomes.append(self.defined)
            alias_maps.append(self.aliases)
            kind_maps.append(self.kinds)
        self.depth -= 1
        self.defined = snap | set.intersection(*outcomes)
        self.aliases = merge_aliases(*alias_maps)
        self.kinds = merge_kinds(*kind_maps[1:])  # handlers start from merged kinds
        self.stmts(node.finalbody)

    visit_TryStar = visit_Try

    def visit_Match(self, node: ast.Match) -> None:
        self.expr(node.subject)
        snap = set(self.defined)
        kinds = dict(self.kinds)
        outcomes: list[set[str]] = []
        kind_maps = [kinds]
        self.depth += 1
        for case in node.cases:
            self.defined = set(snap)
            self.kinds = dict(kinds)
            for sub in ast.walk(case.pattern):
                if isinstance(sub, ast.expr):
                    self.expr(sub)
                name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                if isinstance(name, str):
                    self.write(name, case.pattern)
            if case.guard is not None:
                self.expr(case.guard)
            self.stmts(case.body)
            outcomes.append(self.defined)
            kind_maps.append(self.kinds)
        self.depth -= 1
        self.kinds = merge_kinds(*kind_maps)
        last = node.cases[-1] if node.cases else None
        if last is not None and last.guard is None and irrefutable(last.pattern):
            # `case _:` (or a bare capture) always matches: one of the cases runs.
            self.defined = snap | set.intersection(*outcomes)
        else:
            self.defined = snap


def _suppresses(node: ast.expr) -> bool:
    """``suppress(...)`` / ``contextlib.suppress(...)``: exceptions end the body silently."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name == "suppress"


def irrefutable(p: ast.pattern) -> bool:
    """Does the pattern match any subject (``_``, ``name``, ``a | _``)?"""
    if isinstance(p, ast.MatchAs):
        return p.pattern is None or irrefutable(p.pattern)
    if isinstance(p, ast.MatchOr):
        return any(irrefutable(q) for q in p.patterns)
    return False
