"""Which cell does what: cells -> steps, the prelude, parameters/metrics, or skipped.

Kale's tagging rules (:func:`layout`) and the check of ``prev:`` tags (:func:`check_prev`).
Errors name the cell and tag at fault; all tag errors of a notebook can be gathered in
one pass.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .diagnostics import Diagnostic
from .errors import AnalysisError, TagError, cell_label
from .model import CellRole
from .notebook import Cell, NotebookSource

SPECIAL_KINDS = (
    "imports",
    "functions",
    "pipeline-parameters",
    "injected-parameters",
    "pipeline-metrics",
)


@dataclass
class StepGroup:
    """The cells of one step, in notebook order, with the ``prev:`` tags found on them."""

    name: str
    cells: list[Cell] = field(default_factory=list)
    prev: list[tuple[str, int, str]] = field(default_factory=list)  # (step, cell, tag text)

    @property
    def position(self) -> int:
        return self.cells[0].index


@dataclass
class Layout:
    """Which cell does what."""

    steps: list[StepGroup]
    special: dict[str, list[Cell]]
    skipped: list[Cell]
    implicit: bool  # no step tag at all: the notebook is one step
    diagnostics: list[Diagnostic]
    roles: list[CellRole] = field(default_factory=list)

    @property
    def has_prev(self) -> bool:
        return any(s.prev for s in self.steps)


@dataclass
class _Pass:
    """What the pass of :func:`layout` over the cells has placed so far."""

    implicit: bool
    special: dict[str, list[Cell]] = field(default_factory=lambda: {k: [] for k in SPECIAL_KINDS})
    steps: dict[str, StepGroup] = field(default_factory=dict)
    skipped: list[Cell] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)
    roles: list[CellRole] = field(default_factory=list)
    block: StepGroup | str | None = None  # the block untagged cells join
    outside: list[Cell] = field(default_factory=list)


def layout(
    nb: NotebookSource, single_step_name: str, errors: list[TagError] | None = None
) -> Layout:
    """Assign every code cell to a step, the prelude, the parameters/metrics, or skip.

    Kale's rules (0.7 and 2.3 alike): an untagged cell, or one with an empty ``step:`` /
    ``block:`` tag, joins the block above it, whatever that block is (a step, ``imports``,
    ``functions``, the parameters or the metrics); ``skip`` cells are transparent; untagged
    cells above the first tagged cell belong to no block and are left out. A notebook
    without any step tag is one step. Tag errors are appended to ``errors`` when given
    (all of them are reported in one pass), raised otherwise.
    """
    done = _Pass(implicit=not any(t.kind == "step" and t.name for c in nb.cells for t in c.tags))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.has("skip"):
            done.skipped.append(cell)
            done.roles.append(CellRole(cell.index, "skip"))
            continue
        try:
            kind, names = _cell_kind(cell, nb.path)
        except TagError as err:
            if errors is None:
                raise
            errors.append(err)
            continue
        _place(done, cell, kind, names)
    _place_outside(done, single_step_name)
    if not done.steps and not errors:
        raise AnalysisError(
            "the notebook has no step code (every code cell is imports, functions,"
            " parameters, metrics or skip)",
            kind="empty",
            path=nb.path,
            fix="add a code cell tagged step:NAME",
        )
    return _finish(done)


def _place(done: _Pass, cell: Cell, kind: str, names: list[str]) -> None:
    """Put one tagged or untagged (not skipped) code cell where Kale's rules say."""
    if kind in SPECIAL_KINDS:
        done.special[kind].append(cell)
        done.diags += _ignored_on_special(cell, kind)
        done.block = kind
        done.roles.append(CellRole(cell.index, kind))
        return
    prevs = [(t.name, cell.index, t.text) for t in cell.tags if t.kind == "prev"]
    if names:
        done.block = done.steps.setdefault(names[0], StepGroup(names[0]))
        done.block.cells.append(cell)
        done.block.prev.extend(prevs)
        done.roles.append(CellRole(cell.index, "step", names[0]))
        return
    # Untagged, or an empty step: tag: the cell continues the block above.
    empty_step = cell.first("step") is not None
    if empty_step and prevs:
        done.diags.append(
            Diagnostic(
                "info",
                "ignored-prev",
                f"{', '.join(t for _, _, t in prevs)} on a cell with an empty step tag is"
                " ignored: the cell continues the block above (as in Kale)",
                cell.index,
                None,
                "name the step (step:NAME) to give it its own dependencies",
            )
        )
    block = done.block
    if done.implicit:
        done.outside.append(cell)  # no step tags: the untagged cells form the single step
    elif isinstance(block, StepGroup):
        block.cells.append(cell)
        block.prev.extend([] if empty_step else prevs)
        done.roles.append(CellRole(cell.index, "step", block.name, joined=True))
    elif isinstance(block, str):
        done.special[block].append(cell)
        done.roles.append(CellRole(cell.index, block, joined=True))
    else:
        done.outside.append(cell)


def _place_outside(done: _Pass, single_step_name: str) -> None:
    """The cells no block took: the single step of an untagged notebook, or left out."""
    if done.implicit and done.outside:
        group = StepGroup(single_step_name)
        for c in done.outside:
            group.cells.append(c)
            done.roles.append(CellRole(c.index, "step", group.name, joined=True))
        done.steps[group.name] = group
        return
    if not done.outside:
        return
    first = min((c.index for g in done.steps.values() for c in g.cells), default=None)
    for c in done.outside:
        done.roles.append(CellRole(c.index, "outside"))
        if c.source.strip():
            done.diags.append(
                Diagnostic(
                    "warning",
                    "outside-pipeline",
                    f"{cell_label(c.index)} is untagged and above every tagged cell, so it"
                    " is not part of the pipeline (Kale's rule)",
                    c.index,
                    None,
                    "tag it imports (run in every step) or step:NAME, or skip to silence"
                    + (
                        f"; the first step starts at {cell_label(first)}"
                        if first is not None
                        else ""
                    ),
                )
            )


def _finish(done: _Pass) -> Layout:
    """Steps by their first cell, every list in notebook order."""
    ordered = sorted(done.steps.values(), key=lambda s: s.position)
    for s in ordered:
        s.cells.sort(key=lambda c: c.index)
    for kind in done.special:
        done.special[kind].sort(key=lambda c: c.index)
    done.roles.sort(key=lambda r: r.cell)
    return Layout(ordered, done.special, done.skipped, done.implicit, done.diags, done.roles)


def _cell_kind(cell: Cell, path: str | None) -> tuple[str, list[str]]:
    """The cell's role (a special kind, ``step`` or ``""`` for none) and its step names."""
    roles = [t for t in cell.tags if t.kind in SPECIAL_KINDS]
    names = list(dict.fromkeys(t.name for t in cell.tags if t.kind == "step" and t.name))
    if len(names) > 1:
        second = [t for t in cell.tags if t.kind == "step" and t.name][-1]
        raise TagError(
            f"one cell names two steps ({', '.join(names)})",
            kind="conflicting-tags",
            cell=cell.index,
            tag=second.text,
            path=path,
            fix=f"split the cell, one step per cell, or remove the tag {second.text!r}",
        )
    if roles and (names or len({t.kind for t in roles}) > 1):
        kinds = sorted({t.text for t in roles} | {f"step:{n}" for n in names})
        keep = roles[0].text
        raise TagError(
            f"conflicting tags on one cell: {', '.join(kinds)}",
            kind="conflicting-tags",
            cell=cell.index,
            tag=roles[-1].text if roles[-1].text != keep else kinds[-1],
            path=path,
            fix=f"give the cell a single role: keep {keep!r} and split the cell for the rest",
        )
    if roles:
        return roles[0].kind, []
    return ("step" if names else ""), names


def _ignored_on_special(cell: Cell, kind: str) -> list[Diagnostic]:
    out = []
    for t in cell.tags:
        if t.kind in SPECIAL_KINDS:
            continue
        # Kale ignores every other tag of such a cell; prev: there is common and harmless.
        out.append(
            Diagnostic(
                "info" if t.kind == "prev" else "warning",
                "ignored-tag",
                f"tag {t.text!r} has no effect on a {kind} cell",
                cell.index,
                None,
                "move the tag to a step cell",
            )
        )
    return out


def check_prev(lay: Layout, path: str | None = None, errors: list[TagError] | None = None) -> None:
    """Every ``prev:`` names an existing step defined above the tag (cycles checked later).

    Problems are appended to ``errors`` when given, raised otherwise."""
    by_name = {s.name: s for s in lay.steps}
    for s in lay.steps:
        for target, cell, text in s.prev:
            err = None
            if target not in by_name:
                known = ", ".join(by_name)
                near = difflib.get_close_matches(target, list(by_name), n=1)
                err = TagError(
                    f"{text!r} names a step that does not exist; known steps: {known}",
                    kind="unknown-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix=f"write prev:{near[0]}"
                    if near and by_name[near[0]].position < cell
                    else f"remove the tag {text!r}",
                )
            elif by_name[target].position > cell:
                err = TagError(
                    f"{text!r} names step {target!r}, which is defined below"
                    f" ({cell_label(by_name[target].position)}); a step can only follow steps"
                    " above it",
                    kind="later-prev",
                    cell=cell,
                    tag=text,
                    path=path,
                    fix=f"move step {target!r} above {cell_label(cell)}, or remove the tag"
                    f" {text!r}",
                )
            if err is not None:
                if errors is None:
                    raise err
                errors.append(err)
