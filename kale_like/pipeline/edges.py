"""Diagnostics about the edges between steps: inferred, missing ``prev:``, unused, ambiguous."""

from __future__ import annotations

from collections.abc import Mapping, Set

from .. import graph
from ..analysis.walker import BlockFacts
from ..diagnostics import Diagnostic

__all__ = ["edge_diagnostics"]


def edge_diagnostics(
    names: list[str],
    flow: graph.Flow,
    prev: Mapping[str, list[str]],
    anc: graph.Ancestors,
    prev_anc: Mapping[str, Set[str]],
    facts: Mapping[str, BlockFacts],
    groups: Mapping[str, graph.StepGroup],
    has_prev: bool,
    only: list[str] | None = None,
) -> list[Diagnostic]:
    """Per step of ``only`` (default: all): each data edge ``prev:`` tags do not imply, each
    ``prev:`` that carries nothing, and each value parallel steps both write. ``anc`` is
    ranked in the order of ``names`` (the notebook's)."""
    diags: list[Diagnostic] = []
    # Which steps write each value, as a mask of ``anc``: rivals come from bit operations,
    # not from a scan of every step per input (quadratic in the notebook's length).
    writers: dict[str, int] = {}
    for w in names:
        bit = anc.mask((w,))
        for v in facts[w].writes:
            writers[v] = writers.get(v, 0) | bit
    for s in names if only is None else only:
        carried = _carried(s, flow)
        diags += _unplanned_edges(s, carried, flow, prev_anc, groups, has_prev)
        diags += [
            Diagnostic(
                "info",
                "prev-without-data",
                f"step {s!r} follows {p!r} (prev:{p}) but receives no variable from it",
                groups[s].position,
                None,
                None,
                s,
            )
            for p in prev[s]
            if p not in carried
        ]
        diags += _ambiguous(s, flow, writers, anc, groups)
    return diags


def _carried(s: str, flow: graph.Flow) -> dict[str, list[str]]:
    """Producer -> what step ``s`` receives from it (variables, then ``<kind state>``)."""
    carried: dict[str, list[str]] = {}
    for v, p in flow.inputs[s].items():
        carried.setdefault(p, []).append(v)
    for kind, p in flow.state_inputs[s].items():
        carried.setdefault(p, []).append(f"<{kind} state>")
    return carried


def _unplanned_edges(
    s: str,
    carried: Mapping[str, list[str]],
    flow: graph.Flow,
    prev_anc: Mapping[str, Set[str]],
    groups: Mapping[str, graph.StepGroup],
    has_prev: bool,
) -> list[Diagnostic]:
    """Edges the data adds beyond ``prev:``: a warning in a notebook that uses ``prev:``
    (the author meant to list them), else the info that they were inferred."""
    diags: list[Diagnostic] = []
    for p, vs in carried.items():
        if p in prev_anc[s]:
            continue
        cell, line = flow.locations.get((s, vs[0]), (groups[s].position, None))
        what = ", ".join(vs)
        if has_prev:
            diags.append(
                Diagnostic(
                    "warning",
                    "missing-dependency",
                    f"step {s!r} reads {what} from step {p!r} but has no prev: path to it;"
                    " the edge was added",
                    cell,
                    line,
                    f"add the tag prev:{p}",
                    s,
                )
            )
        else:
            diags.append(
                Diagnostic(
                    "info",
                    "inferred-dependency",
                    f"step {s!r} runs after {p!r} because it reads {what}",
                    cell,
                    line,
                    None,
                    s,
                )
            )
    return diags


def _ambiguous(
    s: str,
    flow: graph.Flow,
    writers: Mapping[str, int],
    anc: graph.Ancestors,
    groups: Mapping[str, graph.StepGroup],
) -> list[Diagnostic]:
    """A value step ``s`` reads that a parallel branch writes too: the later writer wins.

    A rival writes the value, is an ancestor of ``s``, and is neither ``p`` (the producer)
    nor above or below it; rivals are listed in ``anc``'s rank (the notebook order)."""
    diags: list[Diagnostic] = []
    for v, p in flow.inputs[s].items():
        maybe = writers.get(v, 0) & anc.bits(s) & ~(anc.bits(p) | anc.mask((p,)))
        rivals = [w for w in anc.members(maybe) if p not in anc[w]] if maybe else []
        if rivals:
            cell, line = flow.locations.get((s, v), (groups[s].position, None))
            diags.append(
                Diagnostic(
                    "warning",
                    "ambiguous-definition",
                    f"step {s!r} reads {v!r}, written by parallel steps {rivals[0]!r} and"
                    f" {p!r}; using {p!r} (the later in the notebook)",
                    cell,
                    line,
                    f"rename {v!r} in one branch, or chain the branches with prev:",
                    s,
                )
            )
    return diags
