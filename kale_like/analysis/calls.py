"""Calls: state effects, argument and receiver mutation, known functions, magics.

The walker's layer above :class:`~kale_like.analysis.aliases.AliasRules` (a call may store
its arguments in its receiver), kept apart to keep modules small.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from . import rules
from .aliases import AliasRules
from .facts import FuncFacts, merge
from .parse import parse_snippet

_DYNAMIC = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})


class CallRules(AliasRules):
    """What a call does: the part of the walker that knows about calls and magics."""

    def visit_Call(self, node: ast.Call) -> None:
        if self.magic(node):
            return
        self.expr(node.func)
        for a in node.args:
            self.expr(a)
        for k in node.keywords:
            self.expr(k.value)
        func = node.func
        self.dynamic_call(node)
        q = self.qualify(func)
        if q is None and isinstance(func, ast.Name) and func.id in ("next", "setattr", "delattr"):
            if func.id not in self.defined and func.id not in self.facts.writes:
                q = func.id
        if q:
            self.qualified_call(node, q)
        for k in node.keywords:
            if k.arg == "out":
                for e in k.value.elts if isinstance(k.value, ast.Tuple) else [k.value]:
                    root = self.root(e)
                    if root:
                        self.mutate(root, node)
        if isinstance(func, ast.Attribute) and q is None:
            self.method_call(node, func)
        if not (
            isinstance(func, ast.Name)
            and func.id in rules.NON_CONSUMING | rules.LAZY_BUILTINS
            and self.is_builtin(func.id)
        ):
            # max(it), list(it), np.array(it)...: an iterator passed to a call is used up.
            for a in [*node.args, *(k.value for k in node.keywords)]:
                self.consume(a.value if isinstance(a, ast.Starred) else a, node)
        if self.scope is None:
            self.known_calls(node)

    def dynamic_call(self, node: ast.Call) -> None:
        """``exec(...)``, ``globals()``...: what the code touches is unknown until it runs."""
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in _DYNAMIC
            and (func.id != "vars" or not node.args)
            and func.id not in self.defined
            and func.id not in self.facts.writes
        ):
            if func.id != "__import__":
                # Names it may define are unknown: do not report them as undefined either.
                self.facts.star_import = True
            self.warn(
                "dynamic-code",
                f"`{func.id}()` makes the analysis uncertain: the names it reads, binds or"
                " changes are only known when the step runs",
                node,
                fix="pass values through plain variables; `kale-like verify NOTEBOOK` compares"
                " the pipeline with a top-to-bottom run",
            )

    def qualified_call(self, node: ast.Call, q: str) -> None:
        """A call of a module's function (``np.random.seed``, ``setattr``): its state
        effects, and the argument it changes."""
        given: dict[str | None, object] = {
            k.arg: k.value.value if isinstance(k.value, ast.Constant) else ...
            for k in node.keywords
        }
        reads, writes = rules.call_state(q, given)
        if reads or writes:
            self.state(reads, writes, node)
        if q in rules.ARG_MUTATORS and node.args:
            root = self.root(node.args[0])
            if root:
                self.mutate(root, node)
                if q == "setattr":
                    self.hold(root, node.args[2:], node)

    def method_call(self, node: ast.Call, func: ast.Attribute) -> None:
        """``obj.method(...)`` on a value (not a module): does it draw random numbers,
        change the receiver, store its arguments in it?"""
        given: dict[str | None, object] = {
            k.arg: k.value.value if isinstance(k.value, ast.Constant) else ...
            for k in node.keywords
        }
        if rules.method_draws(func.attr, given):
            self.state(frozenset({"numpy.random"}), frozenset({"numpy.random"}), node)
        inplace = any(
            k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value)
            for k in node.keywords
        )
        receiver = func.value
        if self.scope is None and isinstance(receiver, ast.Name):
            made = self.lookup(receiver.id)
            if made is not None and made.made:  # `model.fit(...)` runs the class's code
                self.apply(made, node, ())
        if self.method_writes(func.value, func.attr, inplace):
            root = self.root(func.value)
            if root:
                self.mutate(root, node)
                if func.attr in rules.STORING_METHODS:
                    values = [*node.args, *(k.value for k in node.keywords)]
                    self.hold(root, [v for v in values if not isinstance(v, ast.Starred)], node)

    def known_calls(self, node: ast.Call) -> None:
        """The effects of a known function called here, or passed to the call (a
        callback, ``map(f, xs)``), including those of the known functions it calls."""
        func = node.func
        if isinstance(func, ast.Name):
            facts = self.lookup(func.id)
            if facts is not None:
                self.apply(self.resolve(func.id, facts), node, node.args, node.keywords)
        for a in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(a, ast.Name) and a is not func:
                facts = self.lookup(a.id)
                if facts is not None:
                    self.apply(self.resolve(a.id, facts), node, ())

    def resolve(self, name: str, facts: FuncFacts) -> FuncFacts:
        """A function's effects including those of the known functions it calls."""
        seen = {name}
        total = facts
        todo = [facts]
        while todo:
            f = todo.pop()
            for n in f.reads:
                if n in seen:
                    continue
                seen.add(n)
                g = self.lookup(n)
                if g is not None:
                    total = merge(total, g, keep_params=False)
                    todo.append(g)
        return total

    def apply(
        self,
        facts: FuncFacts,
        node: ast.AST | None,
        args: Iterable[ast.expr],
        keywords: Iterable[ast.keyword] = (),
    ) -> None:
        at = node if node is not None else ast.Pass(lineno=1)
        for n in sorted(facts.reads):
            self.read(n, at)
        for n in sorted(facts.writes):
            self.write(n, at, define=False)
        for n in sorted(facts.mutates):
            self.mutate(n, at)
        self.state(facts.state_reads, facts.state_writes, at)
        self.facts.modules |= facts.modules
        if facts.mutated_params:
            bound = dict(zip(facts.params, args, strict=False))
            bound.update({k.arg: k.value for k in keywords if k.arg})
            for p in facts.mutated_params:
                if p in bound:
                    root = self.root(bound[p])
                    if root:
                        self.mutate(root, at)

    # ----------------------------------------------------------------- magics
    def magic(self, node: ast.Call) -> bool:
        f = node.func
        if not (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Call)
            and isinstance(f.value.func, ast.Name)
            and f.value.func.id == "get_ipython"
        ):
            return False
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        strs = [a if isinstance(a, str) else "" for a in args]
        if f.attr == "run_line_magic" and len(strs) >= 2:
            name, arg = strs[0], strs[1]
            if name in rules.CODE_LINE_MAGICS:
                self.snippet(arg, node.lineno - 1)
            elif name in ("env", "set_env"):
                setting = name == "set_env" or "=" in arg or len(arg.split()) > 1
                self.state(("os.environ",), ("os.environ",) if setting else (), node)
            elif name in ("cd", "pushd", "popd"):
                self.state(("cwd",), ("cwd",), node)
            elif name in rules.DYNAMIC_MAGICS:
                self.facts.star_import = True
                self.warn("dynamic-code", f"`%{name}` makes the analysis uncertain", node)
            self.soft(arg, node)
        elif f.attr == "run_cell_magic" and len(strs) >= 3:
            name, line, body = strs[0], strs[1], strs[2]
            if name in rules.CODE_CELL_MAGICS:
                words = [w for w in line.split() if not w.startswith("-")]
                self.snippet(body, node.lineno)
                if name == "capture" and words and words[0].isidentifier():
                    self.write(words[0], node)
        elif f.attr in ("system", "getoutput") and strs:
            self.soft(strs[0], node)
        return True

    def soft(self, text: str, node: ast.AST) -> None:
        """``$name`` / ``{name}`` expansions in magics and shell lines."""
        for m in re.finditer(r"\$([A-Za-z_]\w*)|\{([A-Za-z_]\w*)", text):
            name = m.group(1) or m.group(2)
            if name not in self.defined and not self._local(name):
                self.facts.soft_reads.setdefault(name, self.loc(node))

    def snippet(self, code: str, offset: int) -> None:
        module = parse_snippet(code)
        if module is None:
            return
        saved = self.offset
        self.offset = saved + offset
        self.stmts(module.body)
        self.offset = saved
