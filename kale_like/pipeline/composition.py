"""What building a pipeline adds for a composition (``notebook:NAME`` cells, Kale 2.3).

Pure helpers over :class:`~kale_like.compose.Composition`: merged parameters (the main
notebook's value wins), the data-flow corrections that per-notebook preludes need, Kale's
reading-order edges, diagnostics placed in the notebook they are about, and the digest of
every notebook involved.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping

from .. import graph
from ..analysis import BUILTIN_NAMES
from ..analysis.walker import BlockFacts, Walker
from ..compose import Composition, Part
from ..diagnostics import Diagnostic
from ..errors import AnalysisError, KaleError
from ..model import Parameter, Prelude
from .special import parameters

__all__ = [
    "composed_flow",
    "composed_parameters",
    "crossing_diagnostics",
    "digest",
    "located",
    "prelude",
    "reading_order",
    "sub_base_images",
]


@contextlib.contextmanager
def located(part: Part) -> Iterator[None]:
    """Errors raised while reading ``part``'s cells name its file."""
    try:
        yield
    except KaleError as err:
        err.path = err.path or part.path
        raise


def prelude(lay: graph.Layout) -> Prelude:
    return Prelude(
        imports=tuple(c.source for c in lay.special["imports"]),
        functions=tuple(c.source for c in lay.special["functions"]),
        import_cells=tuple(c.index for c in lay.special["imports"]),
        function_cells=tuple(c.index for c in lay.special["functions"]),
    )


def composed_parameters(comp: Composition, main: list[Parameter]) -> list[Parameter]:
    """The main notebook's parameters, then those only referenced notebooks declare. A run
    has one value per name, so the main notebook's wins; two referenced notebooks giving
    one name different defaults is an input error."""
    out = {p.name: p for p in main}
    origin: dict[str, Part] = {}
    for part in comp.parts[1:]:
        for p in parameters(part.lay):
            if p.name in {q.name for q in main}:
                continue
            if p.name in out and out[p.name].default != p.default:
                first = origin[p.name]
                raise AnalysisError(
                    f"parameter {p.name!r} is {out[p.name].default!r} in {first.label} and"
                    f" {p.default!r} in {part.label}; a pipeline has one value per parameter",
                    kind="conflicting-parameters",
                    cell=p.cell,
                    line=p.line,
                    path=part.path,
                    fix=f"declare {p.name} in the main notebook's pipeline-parameters cell:"
                    " its value is used in every notebook",
                )
            out.setdefault(p.name, p)
            origin.setdefault(p.name, part)
    return list(out.values())


def composed_flow(
    comp: Composition,
    flow: graph.Flow,
    facts: Mapping[str, BlockFacts],
    preludes: Mapping[str | None, Walker],
    parameters: list[Parameter],
    star: bool,
) -> list[Diagnostic]:
    """Correct ``flow`` (in place) for per-notebook preludes.

    A referenced notebook's imports/functions run, top to bottom, where its
    ``notebook:`` cell is: a name they bind shadows what steps above wrote, so its steps
    take that name from the prelude, not from an earlier notebook's step. A name only
    another notebook's prelude binds is undefined in a step (its prelude is not replayed).
    """
    position = {g.name: i for i, (_, g) in enumerate(comp.steps)}
    part_of = {g.name: part for part, g in comp.steps}
    start: dict[str | None, int] = {}  # each notebook's first step, in reading order
    for i, (part, _) in enumerate(comp.steps):
        start.setdefault(part.key, i)
    bound = {key: set(w.facts.writes) for key, w in preludes.items()}
    everywhere = {n for names in bound.values() for n in names}
    params = {p.name for p in parameters}
    diags: list[Diagnostic] = []
    for _, g in comp.steps:
        s, part = g.name, part_of[g.name]
        own = bound[part.key]
        if part.key is not None:
            for v, producer in list(flow.inputs[s].items()):
                if v in own and position[producer] < start[part.key]:
                    del flow.inputs[s][v]
        if star:
            continue
        for v, (cell, line) in facts[s].reads.items():
            if v in flow.inputs[s] or v in own or v in params or v in BUILTIN_NAMES:
                continue
            if v not in everywhere:
                continue
            where = sorted(
                comp.parts[i].label
                for i, key in enumerate(p.key for p in comp.parts)
                if v in bound[key]
            )
            diags.append(
                Diagnostic(
                    "warning",
                    "undefined-name",
                    f"step {s!r} reads {v!r}, which only the imports/functions of"
                    f" {', '.join(where)} define; a step replays only its own notebook's",
                    cell,
                    line,
                    f"import or define {v!r} in {part.label}'s imports or functions cell",
                    s,
                    part.key,
                )
            )
    return diags


def reading_order(
    comp: Composition, preds: Mapping[str, set[str]], lay: graph.Layout, path: str | None
) -> dict[str, set[str]]:
    """``preds`` plus Kale's reading-order edges between the units of a notebook that
    references others (a step of it runs after every unit above and before every unit
    below), from the last steps of the earlier unit to the first of the later, dropping
    those other edges already imply."""
    out = {s: set(p) for s, p in preds.items()}
    added: set[tuple[str, str]] = set()
    for earlier, later in comp.order_pairs:
        inside_e, inside_l = set(earlier), set(later)
        used = {p for s in earlier for p in preds[s] if p in inside_e}
        sinks = [s for s in earlier if s not in used]
        sources = [s for s in later if not (preds[s] & inside_l)]
        for a in sinks:
            for b in sources:
                if a not in out[b]:
                    out[b].add(a)
                    added.add((a, b))
    names = [g.name for _, g in comp.steps]
    anc = graph.ancestors(graph.topological_order(names, out, lay, path), out)
    for a, b in added:
        if any(a in anc[z] for z in out[b] if z != a):
            out[b].discard(a)
    return out


def crossing_diagnostics(
    comp: Composition,
    flow: graph.Flow,
    groups: Mapping[str, graph.StepGroup],
    notebook_of: Mapping[str, str | None],
) -> list[Diagnostic]:
    """Info: a step runs after a step of another notebook because it reads its values."""
    label = {part.key: part.label for part in comp.parts}
    diags: list[Diagnostic] = []
    for _, g in comp.steps:
        s = g.name
        carried: dict[str, list[str]] = {}
        for v, p in flow.inputs[s].items():
            if notebook_of[p] != notebook_of[s]:
                carried.setdefault(p, []).append(v)
        for p, vs in carried.items():
            cell, line = flow.locations.get((s, vs[0]), (groups[s].position, None))
            diags.append(
                Diagnostic(
                    "info",
                    "inferred-dependency",
                    f"step {s!r} runs after step {p!r} of {label[notebook_of[p]]} because it"
                    f" reads {', '.join(vs)}",
                    cell,
                    line,
                    None,
                    s,
                    notebook_of[s],
                )
            )
    return diags


def sub_base_images(comp: Composition, image: str | None) -> list[Diagnostic]:
    """A referenced notebook's own base image is not used: one image default per pipeline."""
    diags = []
    for part in comp.parts[1:]:
        meta = part.nb.kale_metadata
        own = meta.get("base_image") or meta.get("docker_image")
        if own and own != image:
            diags.append(
                Diagnostic(
                    "info",
                    "ignored-metadata",
                    f"{part.label}'s base_image {own!r} is not used: the steps of a composed"
                    " pipeline start from the main notebook's base image",
                    None,
                    None,
                    "set it as the main notebook's base_image, or tag the steps image:REF",
                    None,
                    part.key,
                )
            )
    return diags


def digest(comp: Composition) -> str:
    """The main notebook's digest, or one over every notebook of a composition."""
    if not comp.composed:
        return comp.main.nb.digest
    h = hashlib.sha256()
    for part in comp.parts:
        h.update(f"{part.key}\0{part.nb.digest}\0".encode())
    return h.hexdigest()
