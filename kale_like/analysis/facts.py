"""Facts the analysis produces: what a block of code or a function does to globals."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic

Loc = tuple["int | None", "int | None"]


@dataclass(frozen=True)
class FuncFacts:
    """What calling a function does to module globals."""

    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()  # rebound through `global`
    mutates: frozenset[str] = frozenset()  # changed in place
    params: tuple[str, ...] = ()
    mutated_params: frozenset[str] = frozenset()
    state_reads: frozenset[str] = frozenset()
    state_writes: frozenset[str] = frozenset()
    modules: frozenset[str] = frozenset()
    generator: bool = False  # its body yields: calling it makes an iterator
    # Calling it returns code that runs later: an instance of a class (its methods), or a
    # closure of a nested function. What that code reads is read again wherever it runs.
    returns_code: bool = False
    # The facts of a value made by such a call (``model = Net()``, ``add = make_adder()``):
    # calling it or one of its methods reads the globals that code reads.
    made: bool = False


@dataclass
class BlockFacts:
    """Effects of a block of statements (a step, or a prelude cell)."""

    reads: dict[str, Loc] = field(default_factory=dict)
    # Reads that may find the name unbound without that being an error: `$x` in shell
    # lines, a name bound above on some paths only; an input if a producer exists.
    soft_reads: dict[str, Loc] = field(default_factory=dict)
    writes: dict[str, Loc] = field(default_factory=dict)
    weak_writes: dict[str, Loc] = field(default_factory=dict)  # changed through an alias
    deleted: dict[str, Loc] = field(default_factory=dict)
    state_reads: dict[str, Loc] = field(default_factory=dict)
    state_writes: dict[str, Loc] = field(default_factory=dict)
    functions: dict[str, FuncFacts | None] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)
    imports: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    star_import: bool = False  # star import, exec, %run...: unknown names may exist
    # function mode only
    mutated_params: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)


@dataclass
class Scope:
    locals: set[str]
    globals: set[str]
    params: tuple[str, ...]
    is_class: bool = False


_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def target_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def merge(a: FuncFacts, b: FuncFacts, keep_params: bool = True) -> FuncFacts:
    return FuncFacts(
        reads=a.reads | b.reads,
        writes=a.writes | b.writes,
        mutates=a.mutates | b.mutates,
        params=a.params,
        mutated_params=a.mutated_params | (b.mutated_params if keep_params else frozenset()),
        state_reads=a.state_reads | b.state_reads,
        state_writes=a.state_writes | b.state_writes,
        modules=a.modules | b.modules,
        generator=a.generator,
        returns_code=a.returns_code or b.returns_code,
    )


def bound_names(body: Iterable[ast.AST]) -> tuple[set[str], set[str]]:
    """Names bound at this scope level, and names declared global/nonlocal."""
    bound: set[str] = set()
    declared: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            for d in node.decorator_list:
                visit(d)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.NamedExpr):
            bound.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    bound.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        if isinstance(node, _COMPS):
            # Only walrus targets of a comprehension leak into this scope.
            for sub in ast.walk(node):
                if isinstance(sub, ast.NamedExpr):
                    bound.add(sub.target.id)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in body:
        visit(node)
    return bound, declared


def params_of(args: ast.arguments) -> tuple[str, ...]:
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    if args.vararg:
        names.append(args.vararg.arg)
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg:
        names.append(args.kwarg.arg)
    return tuple(names)


def made_by(maker: FuncFacts) -> FuncFacts:
    """The facts of a value ``maker`` returned: running its code (a method, the closure)
    reads what the maker's code reads. Only reads: a value's method that rebinds a global is
    rare, and a wrong write would pass a name its step never bound."""
    return FuncFacts(reads=maker.reads, state_reads=maker.state_reads, made=True)
