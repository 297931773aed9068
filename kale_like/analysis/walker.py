"""The def-use walker: one pass over a step's statements (all its cells, in order).

It records names read before being definitely written (inputs), names bound or mutated
(outputs), deletions, process-global state effects and imported modules. The same walker
in *function mode* computes a function's free globals, ``global`` rebinds and mutations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import replace

from ..diagnostics import Diagnostic
from . import rules
from .aliases import AliasMap, AliasRules
from .calls import CallRules
from .facts import (
    BlockFacts,
    FuncFacts,
    Loc,
    Scope,
    bound_names,
    merge,
    params_of,
    target_names,
)
from .flow import FlowRules
from .kinds import ATOMIC, IMMUTABLE, KindRules


class Walker(AliasRules, FlowRules, CallRules, KindRules):
    """Walks statements in execution order, tracking what is definitely defined."""

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
        self.known = known or {}
        self.modmap: dict[str, str] = dict(modmap or {})
        self.fixed = frozenset(fixed)  # prelude functions/classes: never mutated as variables
        self.scope = scope
        self.defined: set[str] = set(scope.locals) if scope else set()
        # Names bound to the same object (`a = b`), carried from step to step.
        self._aliases = AliasMap(aliases or {})
        # Likely kinds of values (`xs = [1]`: a list), carried from step to step too.
        self.kinds: dict[str, str] = dict(kinds or {})
        self.frames: list[set[str]] = []
        self.depth = 0
        self.cell: int | None = None
        self.offset = 0
        self.deferred = FuncFacts()  # class mode: methods, applied on instantiation

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
        shared = self.sharing(name) if self.scope is None else direct
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

    # ----------------------------------------------------------------- statements
    def run(self, cell: int | None, module: ast.Module) -> None:
        self.cell = cell
        self.offset = 0
        self.stmts(module.body)

    def finish(self) -> BlockFacts:
        """Close the block: a name only *maybe* written (in an `if`, a loop...) must carry
        its earlier value through when the write does not happen, so it is also read."""
        for name, loc in self.facts.writes.items():
            if name not in self.defined and name not in self.facts.reads:
                self.facts.soft_reads.setdefault(name, loc)
        if self.scope is None and self.aliases:
            # Names sharing an object with an output are saved with it if anyone needs them.
            for name in list(self.facts.writes):
                for other in sorted(self.sharing(name) - {name}):
                    if other not in self.modmap and not self._local(other):
                        self.facts.weak_writes.setdefault(other, self.facts.writes[name])
        for name in list(self.facts.weak_writes):
            if name in self.facts.writes or name in self.facts.deleted:
                del self.facts.weak_writes[name]
        unique = {(d.kind, d.cell, d.line, d.message): d for d in self.facts.diagnostics}
        self.facts.diagnostics = list(unique.values())  # loop bodies may be walked twice
        return self.facts

    def stmts(self, body: Iterable[ast.stmt]) -> None:
        for node in body:
            self.stmt(node)

    def stmt(self, node: ast.stmt) -> None:
        method = getattr(self, "s_" + type(node).__name__, None)
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

    def s_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Lambda) and all(
            isinstance(t, ast.Name) for t in node.targets
        ):
            facts = self.lambda_facts(node.value)
            for t in node.targets:
                assert isinstance(t, ast.Name)
                self.write(t.id, t)
                self.bind_function(t.id, facts)
            return
        self.expr(node.value)
        plans = [self.alias_plan(t, node.value) for t in node.targets]  # before rebinding
        kind = self.kind_of(node.value)
        kinds = [self.kind_plan(t, node.value) for t in node.targets]
        for t, plan, kplan in zip(node.targets, plans, kinds, strict=True):
            self.target(t)
            self.alias(t, plan)
            self.store(t, node.value)
            self.kinds.update(kplan)
        if kind in ATOMIC:
            return
        if self.is_iter(node.value) and any(not isinstance(t, ast.Name) for t in node.targets):
            root = self.root(node.value)  # `a, b = it` takes items from it
            if root:
                self.mutate(root, node)
        # `a = b = []`: the targets are one object; a change through one is seen by all.
        chained = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if len(chained) > 1:
            for name in chained:
                others = frozenset(chained) - {name}
                self.alias(node, [(name, self.aliases.get(name, frozenset()) | others, True)])

    def s_AugAssign(self, node: ast.AugAssign) -> None:
        self.expr(node.value)
        t = node.target
        if isinstance(t, ast.Name) and self.kind_of(t) in IMMUTABLE:
            # `s += "x"` on a str/number/tuple makes a new object: nothing shared changes.
            kind = self.kind_of(ast.BinOp(t, node.op, node.value))
            self.read(t.id, t)
            self.write(t.id, t)
            if kind is not None:
                self.kinds[t.id] = kind
            return
        if isinstance(t, ast.Name):
            self.read(t.id, t)
            if self.scope is not None and t.id in self.scope.globals:
                self.write(t.id, t)
            # `x += v` changes a list in place: every name sharing x's object changes too.
            kept = self.aliases.get(t.id)
            self.mutate(t.id, t)
            self.write(t.id, t)
            if kept is not None:
                self.aliases[t.id] = kept
        else:
            self.target(t)

    def s_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.expr(node.value)
            plan = self.alias_plan(node.target, node.value)
            kinds = self.kind_plan(node.target, node.value)
            self.target(node.target)
            self.alias(node.target, plan)
            self.store(node.target, node.value)
            self.kinds.update(kinds)

    def s_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            self.expr(d)
        self.defaults(node.args)
        facts = function_facts(node, self.modmap)
        for d in node.decorator_list:
            # A known decorator's wrapper runs on every call (`global calls; calls += 1`):
            # its effects, with those of the functions it calls, are the decorated one's.
            head = d.func if isinstance(d, ast.Call) else d
            name = head.id if isinstance(head, ast.Name) else None
            known = self.lookup(name) if name is not None else None
            if name is not None and known is not None:
                facts = merge(facts, self.resolve(name, known))
        self.write(node.name, node)
        self.bind_function(node.name, facts)

    s_AsyncFunctionDef = s_FunctionDef

    def s_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list:
            self.expr(d)
        for b in node.bases:
            self.expr(b)
        for k in node.keywords:
            self.expr(k.value)
        body, methods = class_facts(node, self.modmap)
        self.apply(body, node, ())
        self.write(node.name, node)
        self.bind_function(node.name, methods)

    def bind_function(self, name: str, facts: FuncFacts) -> None:
        if self.scope is None:
            self.facts.functions[name] = facts
        elif self.scope.is_class:
            self.deferred = merge(self.deferred, facts)
        else:
            self.apply(facts, None, ())  # nested function: its effects are ours

    def s_Delete(self, node: ast.Delete) -> None:
        todo = list(node.targets)
        while todo:
            t = todo.pop(0)
            if isinstance(t, (ast.Tuple, ast.List)):
                todo[:0] = t.elts
            elif isinstance(t, ast.Name):
                self.read(t.id, t)
                if self.scope is None and self.depth:
                    # May or may not run: the name may still hold its value afterwards.
                    self.write(t.id, t, define=False)
                    self.defined.discard(t.id)
                elif self.scope is None:
                    self.facts.writes.pop(t.id, None)
                    self.facts.functions[t.id] = None
                    self.facts.deleted[t.id] = self.loc(t)
                    self.defined.discard(t.id)
                    self.aliases.pop(t.id, None)
            else:
                self.target(t)

    def s_Import(self, node: ast.Import) -> None:
        for a in node.names:
            top = a.name.split(".")[0]
            bound = a.asname or top
            self.facts.modules.add(top)
            self.write(bound, node)
            self.modmap[bound] = a.name if a.asname else top
            self.facts.imports[bound] = self.modmap[bound]

    def s_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if node.level == 0 and mod:
            self.facts.modules.add(mod.split(".")[0])
        for a in node.names:
            if a.name == "*":
                self.facts.star_import = True
                self.warn(
                    "star-import",
                    f"`from {mod} import *`: the names it defines are unknown to the analysis",
                    node,
                    fix=f"import the names you use explicitly: from {mod} import a, b",
                )
                continue
            bound = a.asname or a.name
            self.write(bound, node)
            qual = f"{mod}.{a.name}" if node.level == 0 and mod else a.name
            self.modmap[bound] = qual
            self.facts.imports[bound] = qual

    def s_Global(self, node: ast.stmt) -> None:
        pass

    s_Nonlocal = s_Global

    # ----------------------------------------------------------------- targets
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

    def store(self, t: ast.AST, value: ast.expr) -> None:
        """``o.v = a`` / ``d[k] = a``: the object rooted at ``o`` / ``d`` now holds a's."""
        if isinstance(t, ast.Attribute | ast.Subscript):
            root = self.root(t)
            if root is not None:
                self.hold(root, [value], t)

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

    # ----------------------------------------------------------------- expressions
    def expr(self, node: ast.AST) -> None:
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is not None:
            method(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child)

    def e_BinOp(self, node: ast.BinOp) -> None:
        # Long `a + b + c + ...` chains nest to the left: walk them without recursion.
        rights: list[ast.expr] = []
        cur: ast.expr = node
        while isinstance(cur, ast.BinOp):
            rights.append(cur.right)
            cur = cur.left
        self.expr(cur)
        for r in reversed(rights):
            self.expr(r)

    def e_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.read(node.id, node)

    def e_Attribute(self, node: ast.Attribute) -> None:
        self.expr(node.value)
        q = self.qualify(node)
        kind = rules.attr_state(q) if q else None
        if kind:
            self.state((kind,), (), node)

    def e_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.expr(node.value)
        name = node.target.id
        if self.frames:
            # PEP 572: the target binds in the enclosing scope, even inside a comprehension.
            self.write(name, node, define=False)
            self.frames[-1].add(name)
        else:
            self.write(name, node)

    def comprehension(self, node: ast.AST, elts: list[ast.expr]) -> None:
        gens: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        frame: set[str] = set()
        for i, gen in enumerate(gens):
            self.expr(gen.iter)
            if i == 0:
                self.consume(gen.iter, node)
            if i == 0:
                self.frames.append(frame)
            frame.update(target_names(gen.target))
            for cond in gen.ifs:
                self.expr(cond)
        for e in elts:
            self.expr(e)
        self.frames.pop()

    def e_ListComp(self, node: ast.ListComp) -> None:
        self.comprehension(node, [node.elt])

    e_SetComp = e_ListComp
    e_GeneratorExp = e_ListComp

    def e_DictComp(self, node: ast.DictComp) -> None:
        self.comprehension(node, [node.key, node.value])

    def e_Lambda(self, node: ast.Lambda) -> None:
        # An anonymous lambda (sorted(key=...), map(...)) is most likely called right away.
        self.apply(self.lambda_facts(node), node, ())

    def lambda_facts(self, node: ast.Lambda) -> FuncFacts:
        self.defaults(node.args)
        return function_facts(node, self.modmap, frames=self.frames)


def function_facts(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
    modmap: Mapping[str, str],
    frames: list[set[str]] | None = None,
) -> FuncFacts:
    """Free globals read, globals rebound/mutated and state touched when ``node`` runs."""
    params = params_of(node.args)
    body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    bound, declared = bound_names(body)
    outer = set().union(*frames) if frames else set()
    scope = Scope(locals=(bound | set(params) | outer) - declared, globals=declared, params=params)
    w = Walker(modmap=modmap, scope=scope)
    for part in body:
        if isinstance(part, ast.stmt):
            w.stmt(part)
        else:
            w.expr(part)
    return replace(_facts_of(w, params), generator=_yields(body))


def _yields(body: list[ast.AST]) -> bool:
    """Does this function body (not its nested functions) contain ``yield``?"""
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return False


def class_facts(node: ast.ClassDef, modmap: Mapping[str, str]) -> tuple[FuncFacts, FuncFacts]:
    """(effects of running the class body now, effects of its methods when instantiated)."""
    bound, declared = bound_names(node.body)
    w = Walker(modmap=modmap, scope=Scope(bound - declared, declared, (), is_class=True))
    w.stmts(node.body)
    return _facts_of(w, ()), w.deferred


def _facts_of(w: Walker, params: tuple[str, ...]) -> FuncFacts:
    f = w.facts
    return FuncFacts(
        reads=frozenset(f.reads) | frozenset(f.soft_reads),
        writes=frozenset(f.writes),
        mutates=frozenset(f.mutates),
        params=params,
        mutated_params=frozenset(f.mutated_params),
        state_reads=frozenset(f.state_reads),
        state_writes=frozenset(f.state_writes),
        modules=frozenset(f.modules),
    )
