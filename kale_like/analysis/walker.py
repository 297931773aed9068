"""The def-use walker: one pass over a step's statements (all its cells, in order).

It records names read before being definitely written (inputs), names bound or mutated
(outputs), deletions, process-global state effects and imported modules. The same walker
in *function mode* computes a function's free globals, ``global`` rebinds and mutations.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import replace

from . import rules
from .calls import CallRules
from .facts import (
    BlockFacts,
    FuncFacts,
    Scope,
    bound_names,
    made_by,
    merge,
    params_of,
    target_names,
)
from .flow import FlowRules
from .kinds import ATOMIC, IMMUTABLE
from .parse import parse_cell


class Walker(FlowRules, CallRules):
    """Walks statements in execution order, tracking what is definitely defined."""

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
                for other in sorted(self.aliases.sharing(name) - {name}):
                    if other not in self.modmap and not self._local(other):
                        self.facts.weak_writes.setdefault(other, self.facts.writes[name])
        for name in list(self.facts.weak_writes):
            if name in self.facts.writes or name in self.facts.deleted:
                del self.facts.weak_writes[name]
        unique = {(d.kind, d.cell, d.line, d.message): d for d in self.facts.diagnostics}
        self.facts.diagnostics = list(unique.values())  # loop bodies may be walked twice
        return self.facts

    def visit_Assign(self, node: ast.Assign) -> None:
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
        self.bind_made(node.targets, node.value)
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

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
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

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.expr(node.value)
            plan = self.alias_plan(node.target, node.value)
            kinds = self.kind_plan(node.target, node.value)
            self.target(node.target)
            self.alias(node.target, plan)
            self.store(node.target, node.value)
            self.kinds.update(kinds)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
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

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list:
            self.expr(d)
        for b in node.bases:
            self.expr(b)
        for k in node.keywords:
            self.expr(k.value)
        body, methods = class_facts(node, self.modmap)
        self.apply(body, node, ())
        self.write(node.name, node)
        self.bind_function(node.name, replace(methods, returns_code=True))

    def bind_made(self, targets: list[ast.expr], value: ast.expr) -> None:
        """``model = Net(...)``, ``add = make_adder(...)``: the names hold code of a known
        callable, so calling them (or their methods) later reads what that code reads."""
        if self.scope is not None or not isinstance(value, ast.Call):
            return
        func = value.func
        if not isinstance(func, ast.Name):
            return
        maker = self.lookup(func.id)
        if maker is None or not maker.returns_code:
            return
        made = made_by(self.resolve(func.id, maker))
        for t in targets:
            if isinstance(t, ast.Name):
                self.facts.functions[t.id] = made

    def bind_function(self, name: str, facts: FuncFacts) -> None:
        if self.scope is None:
            self.facts.functions[name] = facts
        elif self.scope.is_class:
            self.deferred = merge(self.deferred, facts)
        else:
            self.apply(facts, None, ())  # nested function: its effects are ours

    def visit_Delete(self, node: ast.Delete) -> None:
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

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            top = a.name.split(".")[0]
            bound = a.asname or top
            self.facts.modules.add(top)
            self.write(bound, node)
            self.modmap[bound] = a.name if a.asname else top
            self.facts.imports[bound] = self.modmap[bound]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
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

    def visit_Global(self, node: ast.stmt) -> None:
        pass

    visit_Nonlocal = visit_Global

    # ----------------------------------------------------------------- expressions
    def visit_BinOp(self, node: ast.BinOp) -> None:
        # Long `a + b + c + ...` chains nest to the left: walk them without recursion.
        rights: list[ast.expr] = []
        cur: ast.expr = node
        while isinstance(cur, ast.BinOp):
            rights.append(cur.right)
            cur = cur.left
        self.expr(cur)
        for r in reversed(rights):
            self.expr(r)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.read(node.id, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.expr(node.value)
        q = self.qualify(node)
        kind = rules.attr_state(q) if q else None
        if kind:
            self.state((kind,), (), node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
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

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self.comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self.comprehension(node, [node.key, node.value])

    def visit_Lambda(self, node: ast.Lambda) -> None:
        # An anonymous lambda (sorted(key=...), map(...)) is most likely called right away.
        self.apply(self.lambda_facts(node), node, ())

    def lambda_facts(self, node: ast.Lambda) -> FuncFacts:
        self.defaults(node.args)
        return function_facts(node, self.modmap, frames=self.frames)


def analyze_cell(code: str, cell: int | None = None) -> BlockFacts:
    """Reads, writes, deletions, state effects, functions and modules of one cell."""
    walker = Walker()
    walker.run(cell, parse_cell(code, cell))
    return walker.finish()


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
    nested = any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        for part in body
        for n in ast.walk(part)
    )
    return replace(_facts_of(w, params), generator=_yields(body), returns_code=nested)


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
