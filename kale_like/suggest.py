"""Propose a step split for an untagged (or partly tagged) notebook, from its data flow.

Pure: a :class:`~kale_like.notebook.NotebookSource` (and optionally what an earlier run
measured) in, cell roles and contiguous step segments out. The api verb
(``api/suggest.py``) checks the proposal with the same analysis as hand-tagged notebooks
and merges any boundary the checks object to.

How: every cell of work starts as its own segment; the per-cell data flow (analysis
``Walker`` + ``graph.data_flow``, state and file edges included) gives a DAG. Adjacent
segments merge when the split buys nothing: a chain link that loses no parallelism and
has no reason to stay (a markdown heading between, or substantial work on both sides with
little data crossing), and light cells whose results nobody reads (displays, plots).
``--max-steps`` / ``--min-step-seconds`` then merge the cheapest boundaries.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from .analysis import BUILTIN_NAMES, parse_parameters
from .analysis.parse import transform
from .analysis.walker import Walker
from .errors import InputError, KaleError
from .notebook import Cell, NotebookSource
from .suggest_cost import History
from .suggest_flow import cell_edges, walk_cells, work_costs
from .suggest_segments import Context, Segment, merge_at, name_segments, segment

__all__ = [
    "Context",
    "Segment",
    "analyse_cells",
    "merge_at",
    "name_segments",
    "propose",
    "tags_for",
]

PRELUDE_ROLES = ("imports", "functions", "pipeline-parameters")
SPECIAL = {"imports", "functions", "pipeline-parameters", "injected-parameters", "pipeline-metrics"}
_SAFE_MAGICS = {"matplotlib", "load_ext", "autoreload", "config"}


# ------------------------------------------------------------------ cell classification


def _tree(cell: Cell) -> ast.Module | None:
    try:
        return ast.parse(transform(cell.source))
    except (SyntaxError, ValueError, RecursionError):
        return None


def _is_magic(node: ast.stmt) -> bool:
    """``%matplotlib inline`` and friends, after IPython's transformer."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call = node.value
    f = call.func
    return (
        isinstance(f, ast.Attribute)
        and f.attr == "run_line_magic"
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value in _SAFE_MAGICS
    )


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _prelude_role(tree: ast.Module | None, defined: set[str]) -> str | None:
    """``imports`` / ``functions`` if the cell only imports / defines (nothing else runs
    that a replay in every step could change), else None."""
    if tree is None or not tree.body:
        return None
    body = [n for n in tree.body if not _is_docstring(n)]
    if not body:
        return None
    imports = all(
        (isinstance(n, (ast.Import, ast.ImportFrom)) and all(a.name != "*" for a in n.names))
        or _is_magic(n)
        for n in body
    )
    if imports and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body):
        return "imports"
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if not all(isinstance(n, (*defs, ast.Import, ast.ImportFrom)) for n in body):
        return None
    if not any(isinstance(n, defs) for n in body):
        return None
    # What runs when the cell runs (decorators, defaults, bases, class bodies) may only
    # read what the prelude above and the builtins define: the cell is replayed first.
    w = Walker()
    w.run(None, tree)
    reads = set(w.facts.reads) | set(w.facts.soft_reads)
    if reads - defined - BUILTIN_NAMES or w.facts.state_writes or w.facts.star_import:
        return None
    return "functions"


def _is_parameters(cell: Cell, tree: ast.Module | None) -> bool:
    if tree is None or not tree.body:
        return False
    for n in tree.body:
        if not (
            isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
        ):
            return False
        try:
            value = ast.literal_eval(n.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        if not isinstance(value, (int, float, str, bool)):  # scalars: nothing to mutate
            return False
    try:
        return bool(parse_parameters(cell.source, cell.index, "pipeline-parameters"))
    except KaleError:
        return False


def _headings(source: str) -> list[str]:
    out = []
    for line in source.splitlines():
        m = re.match(r"\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if m:
            out.append(m.group(2))
    return out


def _original_role(cell: Cell) -> str | None:
    """The role hand-written tags give a code cell: "skip", a special kind, "step:NAME",
    "step:" (continues the cell above), or None when it has no tags."""
    if not cell.raw_tags:
        return None
    if cell.has("skip"):
        return "skip"
    if cell.has("notebook"):
        raise InputError(
            "suggest does not split composed notebooks (cells tagged notebook:NAME)",
            kind="composed-notebook",
            cell=cell.index,
            fix="run suggest on each referenced notebook on its own",
        )
    for t in cell.tags:
        if t.kind in SPECIAL:
            return t.kind
    name = next((t.name for t in cell.tags if t.kind == "step" and t.name), None)
    return f"step:{name}" if name else "step:"


# ------------------------------------------------------------------ per-cell data flow


def analyse_cells(
    nb: NotebookSource, history: History | None = None, force_work: frozenset[int] = frozenset()
) -> Context:
    """Classify the cells and compute the per-cell data flow of the work cells
    (``force_work``: free cells that must stay steps)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    trees = {c.index: _tree(c) for c in code}
    original = {c.index: _original_role(c) for c in code}
    roles, fixed, work, special_cells = _classify(code, trees, original, force_work)

    by_index = {c.index: c for c in nb.cells}
    cf = walk_cells(special_cells, work, by_index)
    # A prelude name that a step rebinds would not flow: keep such cells as steps.
    rebound = {v for f in cf.facts.values() for v in (*f.writes, *f.deleted)}
    clash = [c for c in roles if roles[c] != "pipeline-parameters" and _bound(trees[c]) & rebound]
    params_clash = [
        c for c in roles if roles[c] == "pipeline-parameters" and _bound(trees[c]) & rebound
    ]
    if clash or params_clash:
        return analyse_cells(nb, history, force_work | {*clash, *params_clash})

    preds, metrics_of = cell_edges(cf, work, special_cells["pipeline-metrics"], by_index)
    costs = work_costs(work, trees, preds, cf.kinds, history)
    headings = _work_headings(nb, work, roles, original)
    return Context(
        nb, roles, work, fixed, preds, costs.seconds, costs.measured, costs.var_bytes,
        costs.unsafe, headings, metrics_of, history,
    )  # fmt: skip


def _classify(
    code: list[Cell],
    trees: dict[int, ast.Module | None],
    original: dict[int, str | None],
    force_work: frozenset[int],
) -> tuple[dict[int, str], dict[int, str], list[int], dict[str, list[Cell]]]:
    """(free cells given a prelude role, hand-tagged work cells -> step name, work cells,
    cells per special role): hand tags stand; a free cell before any work that only
    imports, defines or sets parameters joins the prelude, the rest is work."""
    has_params = any(r in ("pipeline-parameters", "injected-parameters") for r in original.values())
    roles: dict[int, str] = {}
    fixed: dict[int, str] = {}
    work: list[int] = []
    special_cells: dict[str, list[Cell]] = {k: [] for k in SPECIAL}
    defined: set[str] = set()
    block: str | None = None  # what an untagged/continuing cell would join: role or "step"
    seen_work = False
    for i, c in enumerate(code):
        role = original[c.index]
        if role == "skip":
            continue
        if role in SPECIAL:
            special_cells[role].append(c)
            block = role
            continue
        if role is not None and role.startswith("step:"):
            if role == "step:" and block in SPECIAL:  # continues a hand-tagged special block
                special_cells[block].append(c)
                continue
            if role == "step:" and not work:
                # Continues nothing we keep: it stays where Kale puts it, outside.
                continue
            fixed[c.index] = role[5:]
            work.append(c.index)
            block, seen_work = "step", True
            continue
        if not c.source.strip():
            continue  # empty: left untagged, harmless wherever it joins
        # A free cell. Its successor may continue it by an empty step: tag; then it must be
        # a step cell itself.
        nxt = next((d for d in code[i + 1 :] if original[d.index] != "skip"), None)
        continued = nxt is not None and original[nxt.index] == "step:"
        tree = trees[c.index]
        keep = continued or c.index in force_work
        prelude = None if keep else _prelude_role(tree, defined)
        if prelude is None and not keep and not seen_work and not has_params:
            if _is_parameters(c, tree):
                prelude, has_params = "pipeline-parameters", True
        if prelude is not None:
            roles[c.index] = prelude
            special_cells[prelude].append(c)
            if prelude != "pipeline-parameters":
                defined |= _bound(tree)
            block = prelude
            continue
        work.append(c.index)
        block, seen_work = "step", True
    return roles, fixed, work, special_cells


def _work_headings(
    nb: NotebookSource, work: list[int], roles: dict[int, str], original: dict[int, str | None]
) -> dict[int, str]:
    """Per work cell, the nearest markdown heading above it since the last kept cell."""
    headings: dict[int, str] = {}
    pending: list[str] = []
    for c in nb.cells:
        if c.cell_type == "markdown":
            pending += _headings(c.source)
        elif c.index in work or c.index in roles or original.get(c.index):
            if c.index in work and pending:
                headings[c.index] = pending[-1]
            if c.source.strip():
                pending = []
    return headings


def _bound(tree: ast.Module | None) -> set[str]:
    if tree is None:
        return set()
    out: set[str] = set()
    for n in tree.body:
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {a.asname or a.name.split(".")[0] for a in n.names}
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            out |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    return out


def propose(
    nb: NotebookSource,
    history: History | None = None,
    *,
    max_steps: int = 12,
    min_step_seconds: float = 0.0,
) -> tuple[Context, list[Segment]]:
    """The cell roles and the named segments of a proposal (not yet checked)."""
    ctx = analyse_cells(nb, history)
    segs = segment(ctx, max_steps, min_step_seconds)
    name_segments(ctx, segs)
    return ctx, segs


def tags_for(ctx: Context, segs: list[Segment]) -> dict[int, list[str]]:
    """The full tag list of every code cell whose tags the proposal sets (free cells)."""
    out: dict[int, list[str]] = {c: [role] for c, role in ctx.roles.items()}
    for s in segs:
        for c in s.cells:
            if c not in ctx.fixed:
                out[c] = [f"step:{s.name}"]
    return out


def roles_text(roles: Mapping[int, str]) -> list[str]:
    return [f"cell {c + 1}: {r}" for c, r in sorted(roles.items())]
