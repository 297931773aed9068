"""Walking the code: the imports/functions preludes, then every step in reading order.

Each step's walker sees the functions, imports, aliases and likely value kinds bound above
it; a referenced notebook's steps see its own prelude (replayed before them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis import parse_cell
from ..analysis.kinds import param_kinds
from ..analysis.walker import BlockFacts, FuncFacts, Walker
from ..compose import Composition
from ..diagnostics import Diagnostic
from ..model import Parameter
from ..notebook import Cell
from .composition import located
from .placing import in_notebook, with_step
from .special import tag_text

__all__ = ["Walk", "walk_preludes", "walk_steps"]


@dataclass
class Walk:
    """What walking the code found: per notebook its prelude, per step its facts."""

    preludes: dict[str | None, Walker]  # notebook key (None: the main one) -> its prelude
    prelude_cells: list[Cell]  # the imports/functions cells of every notebook
    facts: dict[str, BlockFacts] = field(default_factory=dict)  # step -> what its code does
    star: bool = False  # some code star-imports: unknown names may be defined


def walk_preludes(comp: Composition, diags: list[Diagnostic]) -> Walk:
    """Walk each notebook's imports and functions cells, replayed in every step of it."""
    preludes: dict[str | None, Walker] = {}
    prelude_cells: list[Cell] = []
    for part in comp.parts:
        special = part.lay.special
        own = Walker()
        with located(part):
            for c in sorted(special["imports"] + special["functions"], key=lambda c: c.index):
                own.run(c.index, parse_cell(c.source, c.index, tag_text(c)))
                prelude_cells.append(c)
        diags += in_notebook(own.facts.diagnostics, part.key)
        preludes[part.key] = own
    star = any(w.facts.star_import for w in preludes.values())
    return Walk(preludes, prelude_cells, star=star)


def walk_steps(
    comp: Composition, walk: Walk, parameters: list[Parameter], diags: list[Diagnostic]
) -> None:
    """Walk the steps in reading order into ``walk.facts``; appends to ``diags``."""
    pre = walk.preludes[None]
    known: dict[str, FuncFacts | None] = dict(pre.facts.functions)
    fixed = {n for n, f in known.items() if f is not None and not f.made}
    modmap = dict(pre.modmap)
    aliases: dict[str, frozenset[str]] = {}
    value_kinds = param_kinds(parameters)  # likely value kinds, carried like the aliases
    current: str | None = None
    for part, g in comp.steps:
        if part.key != current:
            current, own = part.key, walk.preludes[part.key]
            known.update(own.facts.functions)
            fixed = {n for n, f in own.facts.functions.items() if f is not None and not f.made}
            modmap = {**modmap, **own.modmap}
        # `known` (every name bound above) is only read by the walker and grows after the
        # step: no per-step copy, which would make a long notebook quadratic.
        w = Walker(known=known, modmap=modmap, fixed=fixed, aliases=aliases, kinds=value_kinds)
        step_tag = next((t.text for c in g.cells for t in c.tags if t.kind == "step"), None)
        with located(part):
            for c in g.cells:
                w.run(c.index, parse_cell(c.source, c.index, tag_text(c) or step_tag))
        walk.facts[g.name] = w.finish()
        known.update(w.facts.functions)
        modmap = dict(w.modmap)
        aliases = _live_aliases(w)
        value_kinds = w.live_kinds()
        walk.star = walk.star or w.facts.star_import
        for d in w.facts.diagnostics:
            diags.append(with_step(d, g.name, part.key))


def _live_aliases(w: Walker) -> dict[str, frozenset[str]]:
    # An alias dies when either name is deleted; rebinding is handled by the walker.
    dead = set(w.facts.deleted)
    return {a: roots - dead for a, roots in w.aliases.items() if a not in dead and roots - dead}
