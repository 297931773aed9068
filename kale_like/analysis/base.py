"""The walker's state and core bookkeeping, shared by every rule class.

The walker is built in layers, each using only what lies below it (so each is typed
without restating another's methods):

- :class:`WalkerBase` (here): the state, the ``visit_<Type>`` dispatch, reads, writes,
  mutations, state effects, warnings, names and assignment targets;
- :class:`~kale_like.analysis.kinds.KindRules`: likely kinds of values;
- :class:`~kale_like.analysis.aliases.AliasRules`: names sharing one object (uses kinds);
- :class:`~kale_like.analysis.flow.FlowRules` (branches and loops) and
  :class:`~kale_like.analysis.calls.CallRules` (calls and magics), both on the aliases;
- :class:`~kale_like.analysis.walker.Walker`: the plain statements and expressions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from ..diagnostics import Diagnostic
from . import rules
from .facts import BlockFacts, FuncFacts, Loc, Scope


class AliasMap(dict[str, frozenset[str]]):
    """name -> names whose objects it shares (``a = b``: a -> {b}), with a reverse index
    kept up to date so that finding everything sharing an object stays cheap."""

    def __init__(self, items: Mapping[str, frozenset[str]]) -> None:
        super().__init__()
        self._holders: dict[str, set[str]] = {}
        for k, v in items.items():
            self[k] = v

    def holders(self, name: str) -> set[str]:
        return self._holders.get(name, set())

    def sharing(self, name: str) -> set[str]:
        """Every name that may share ``name``'s object (aliases in both directions)."""
        group, todo = {name}, [name]
        while todo:
            n = todo.pop()
            linked = set(self.get(n, ())) | self.holders(n)
            for m in linked - group:
                group.add(m)
                todo.append(m)
        return group

    def _unlink(self, key: str) -> None:
        for r in super().get(key, ()):
            self._holders.get(r, set()).discard(key)

    def __setitem__(self, key: str, value: frozenset[str]) -> None:
        self._unlink(key)
        super().__setitem__(key, value)
        for r in value:
            self._holders.setdefault(r, set()).add(key)

    def __delitem__(self, key: str) -> None:
        self._unlink(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._unlink(key)
        return super().pop(key, *default)


class WalkerBase:
    """What every part of the walker reads and changes while walking a block."""

    def __init__(
        self,
        known: Mapping[str, FuncFacts | None] | None = None,
        modmap: Mapping[str, str] | None = None,
        fixed: Iterable[str] = (),
        scope: Scope | None = None,
        aliases: Mapping[str, frozenset[str]] | None = None,
        kinds: Mapping[str, str] | None = None,
    ) -> None:
        self.facts = BlockFacts()
        self.known: Mapping[str, FuncFacts | None] = known or {}
        self.modmap: dict[str, str] = dict(modmap or {})
        self.fixed = frozenset(fixed)  # prelude functions/classes: never mutated as variables
        self.scope = scope
        self.defined: set[str] = set(scope.locals) if scope else set()
        # Names bound to the same object (`a = b`), carried from step to step.
        self._aliases = AliasMap(aliases or {})
        # Likely kinds of values (`xs = [1]`: a list), carried from step to step too.
        self.kinds: dict[str, str] = dict(kinds or {})
        self.frames: list[set[str]] = []
        self.depth = 0  # > 0 inside a branch, loop or try: statements there may not run
        self.cell: int | None = None
        self.offset = 0
        self.deferred = FuncFacts()  # class mode: methods, applied on instantiation

    @property
    def aliases(self) -> AliasMap:
        return self._aliases

    @aliases.setter
    def aliases(self, value: Mapping[str, frozenset[str]]) -> None:
        self._aliases = value if isinstance(value, AliasMap) else AliasMap(value)

    # ----------------------------------------------------------------- dispatch
    # A node goes to the method ``visit_<its ast class>`` (the ``ast.NodeVisitor``
    # convention). Statement and expression classes of ``ast`` never share a name, so one
    # prefix serves both; what differs is the fallback when there is no such method:
    # :meth:`stmt` walks the children by their own kind, :meth:`expr` walks them as values.
    def stmts(self, body: Iterable[ast.stmt]) -> None:
        for node in body:
            self.stmt(node)

    def stmt(self, node: ast.stmt) -> None:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            method(node)
        else:
            self.generic(node)

    def generic(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.stmt(child)
            elif isinstance(child, ast.expr):
                self.expr(child)
            else:
                self.generic(child)

    def expr(self, node: ast.AST) -> None:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            method(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child)

    # ----------------------------------------------------------------- bookkeeping
    def loc(self, node: ast.AST) -> Loc:
        return (self.cell, getattr(node, "lineno", 1) + self.offset)

    def _local(self, name: str) -> bool:
        return any(name in f for f in self.frames)

    def read(self, name: str, node: ast.AST) -> None:
        if self._local(name) or name in self.defined:
            return
        if self.scope is None and name not in self.facts.reads and name in self.facts.writes:
            # Bound above on some path only (a branch, loop or `try`): the read sees this
            # step's value or, when that path did not run, an earlier one. Still an input,
            # but never an undefined name.
            self.facts.soft_reads.setdefault(name, self.loc(node))
            return
        self.facts.reads.setdefault(name, self.loc(node))

    def write(self, name: str, node: ast.AST, define: bool = True) -> None:
        self.aliases.pop(name, None)
        self.kinds.pop(name, None)
        self.modmap.pop(name, None)
        if self.scope is not None:
            if name in self.scope.globals:
                self.facts.writes[name] = self.loc(node)
            return
        self.facts.writes[name] = self.loc(node)
        self.facts.deleted.pop(name, None)
        self.facts.functions[name] = None
        if define:
            self.defined.add(name)

    def mutate(self, name: str, node: ast.AST) -> None:
        direct = {name, *self.aliases.get(name, ())}
        # Names that took this object earlier (`a = b`, then `b.append`) change too; they
        # are "weak" writes: the step passes them on only if a later step reads them.
        shared = self.aliases.sharing(name) if self.scope is None else direct
        for root in sorted(shared):
            if self._local(root):
                continue
            if root not in direct:
                if root not in self.modmap and root not in self.facts.writes:
                    self.facts.weak_writes.setdefault(root, self.loc(node))
                continue
            if self.scope is not None:
                if root in self.scope.params and root not in self.scope.globals:
                    self.facts.mutated_params.add(root)
                elif root not in self.scope.locals or root in self.scope.globals:
                    if root not in self.modmap:
                        self.read(root, node)
                        self.facts.mutates.add(root)
                continue
            if root in self.modmap or (root in self.fixed and root not in self.facts.writes):
                continue
            self.read(root, node)
            self.facts.writes[root] = self.loc(node)
            self.facts.deleted.pop(root, None)

    def state(self, reads: Iterable[str], writes: Iterable[str], node: ast.AST) -> None:
        for kind in reads:
            self.facts.state_reads.setdefault(kind, self.loc(node))
        for kind in writes:
            self.facts.state_writes.setdefault(kind, self.loc(node))

    def warn(self, kind: str, message: str, node: ast.AST, fix: str | None = None) -> None:
        cell, line = self.loc(node)
        self.facts.diagnostics.append(Diagnostic("warning", kind, message, cell, line, fix))

    # ----------------------------------------------------------------- names
    def qualify(self, node: ast.AST) -> str | None:
        """``np.random.seed`` -> ``numpy.random.seed`` when ``np`` is an imported module."""
        if isinstance(node, ast.Name):
            return self.modmap.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def root(self, node: ast.AST) -> str | None:
        """The variable an expression's object lives in (``d["l"]`` -> ``d``)."""
        while True:
            if isinstance(node, ast.Name):
                return node.id
            if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
                node = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr not in rules.PURE_METHODS
            ):
                node = node.func.value  # a mutator that may return self (c.add(1).add(2))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "vars"
                and len(node.args) == 1
                and self.is_builtin("vars")
            ):
                node = node.args[0]  # vars(obj) is obj's attribute dict
            else:
                return None

    def lookup(self, name: str) -> FuncFacts | None:
        if name in self.facts.functions:
            return self.facts.functions[name]
        if name in self.defined or name in self.facts.writes:
            return None  # rebound in this step to something else
        return self.known.get(name)

    def is_builtin(self, name: str) -> bool:
        """``name`` still is the builtin (nothing in this step or above rebound it)."""
        return (
            name in rules.BUILTIN_NAMES
            and name not in self.defined
            and name not in self.facts.writes
            and name not in self.modmap
            and name not in self.known  # functions, and every name an earlier step bound
            and name not in self.kinds
        )

    # ----------------------------------------------------------------- targets
    def target(self, t: ast.AST) -> None:
        if isinstance(t, ast.Name):
            self.write(t.id, t)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self.target(e)
        elif isinstance(t, ast.Starred):
            self.target(t.value)
        elif isinstance(t, (ast.Attribute, ast.Subscript)):
            self.expr(t.value)
            if isinstance(t, ast.Subscript):
                self.expr(t.slice)
            q = self.qualify(t.value if isinstance(t, ast.Subscript) else t)
            kind = rules.attr_state(q) if q else None
            if kind:
                self.state((kind,), (kind,), t)
                return
            root = self.root(t.value)
            if root is not None:
                self.mutate(root, t)

    def defaults(self, args: ast.arguments) -> None:
        for d in [*args.defaults, *args.kw_defaults]:
            if d is not None:
                self.expr(d)
