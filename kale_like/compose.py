"""Kale 2.3 composition: ``notebook:NAME`` cells inline other notebooks as sub-pipelines.

The one place a composition is expanded. :func:`expand` reads the main notebook's
references (cell metadata ``notebook_path``, default ``NAME.ipynb`` beside the notebook
holding the cell), lays out every notebook with :func:`graph.layout` on its own (so each
keeps its own ``prev:`` tags, imports, functions, parameters and metrics) and lists all
steps in the main notebook's reading order, a referenced notebook's steps where its
``notebook:`` cell is. References nest (a referenced notebook may reference others);
cycles, missing notebooks, code in a ``notebook:`` cell and step names used by two
notebooks are input errors naming the notebook and cell.

Kale's ordering between the units of a notebook that references others is kept: a step
of that notebook runs after every unit above it and before every unit below it; two
references next to each other are ordered only by the data they share
(:attr:`Composition.order_pairs`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

from . import graph
from .errors import InputError, KaleError, TagError, cell_label
from .model import CellRole
from .notebook import Cell, NotebookSource, combine_tag_errors, read_notebook
from .tags import Tag, parse_tag

__all__ = ["Composition", "Part", "expand", "is_reference"]

# A step the layout of a notebook without own steps gets, removed right after (a
# composition's main notebook may hold only references, imports and parameters).
_PLACEHOLDER = "_kale_like_composition_end"
_NAMED = ("imports", "functions", "pipeline-parameters", "injected-parameters", "pipeline-metrics")


@dataclass
class Part:
    """One notebook of a composition: ``key`` names it in the IR (None: the main one)."""

    key: str | None
    nb: NotebookSource
    path: str | None
    lay: graph.Layout

    @property
    def label(self) -> str:
        """How messages name the notebook."""
        return self.key or (Path(self.path).name if self.path else "the notebook")


@dataclass
class Composition:
    """All notebooks of a pipeline and all its steps in reading order."""

    parts: list[Part]  # the main notebook first, then referenced ones in reading order
    steps: list[tuple[Part, graph.StepGroup]]
    # (steps of an earlier unit, steps of a later unit) that Kale orders by reading order
    order_pairs: list[tuple[list[str], list[str]]] = field(default_factory=list)

    @property
    def main(self) -> Part:
        return self.parts[0]

    @property
    def composed(self) -> bool:
        return len(self.parts) > 1

    def part_of(self, step: str) -> Part:
        return next(p for p, g in self.steps if g.name == step)


def is_reference(cell: Cell) -> bool:
    """A ``notebook:NAME`` cell (not skipped)."""
    return cell.cell_type == "code" and cell.has("notebook") and not cell.has("skip")


def expand(
    nb: NotebookSource, path: str | None, single_step_name: str, tag_errors: list[TagError]
) -> Composition:
    """Lay out ``nb`` and every notebook it references. Tag errors of the main notebook
    are appended to ``tag_errors``; those of a referenced notebook are raised at once."""
    if not any(is_reference(c) for c in nb.cells):
        lay = graph.layout(nb, single_step_name, tag_errors)
        graph.check_prev(lay, path, tag_errors)
        part = Part(None, nb, path, lay)
        return Composition([part], [(part, g) for g in lay.steps])
    if path is None:
        raise InputError(
            "a notebook with notebook: cells was given without its path, so the notebooks"
            " it references cannot be found",
            kind="missing-notebook",
            fix="pass the notebook's path (the referenced notebooks are found beside it)",
        )
    root = Path(path).absolute().parent
    comp = Composition([], [])
    _expand(comp, nb, path, None, root, (), single_step_name, tag_errors)
    _check_unique_names(comp)
    return comp


def _expand(
    comp: Composition,
    nb: NotebookSource,
    path: str,
    key: str | None,
    root: Path,
    stack: tuple[tuple[str, str, int | None], ...],
    single_step_name: str,
    tag_errors: list[TagError],
) -> list[str]:
    """Add ``nb`` (and what it references) to ``comp``; return its steps' names."""
    refs = [c for c in nb.cells if is_reference(c)]
    errors = tag_errors if key is None else []
    for c in refs:
        _check_reference_cell(c, path, errors)
    cells = _held_cells_to_steps(nb, path, errors)
    own_steps = any(t.kind == "step" and t.name for c in cells for t in c.tags)
    if refs and not own_steps:
        cells.append(Cell(len(nb.cells), "code", "pass", (parse_tag(f"step:{_PLACEHOLDER}"),)))
    lay = graph.layout(replace(nb, cells=tuple(cells)), single_step_name, errors)
    graph.check_prev(lay, path, errors)
    lay.steps = [g for g in lay.steps if g.name != _PLACEHOLDER]
    lay.roles = sorted(
        [r for r in lay.roles if r.step != _PLACEHOLDER]
        + [CellRole(c.index, "notebook") for c in refs],
        key=lambda r: r.cell,
    )
    if errors and key is not None:
        raise combine_tag_errors(errors, path)
    part = Part(key, nb, path, lay)
    comp.parts.append(part)

    if not refs:
        comp.steps += [(part, g) for g in lay.steps]
        return [g.name for g in lay.steps]
    # Units in reading order: own steps at their first cell, references at their cell.
    units: list[tuple[bool, list[str]]] = []  # (is a reference, its steps)
    here = (str(Path(path).absolute()), Path(path).name, None)
    by_position = {g.position: g for g in lay.steps}
    for pos in sorted([*by_position, *(c.index for c in refs)]):
        if pos in by_position:
            comp.steps.append((part, by_position[pos]))
            units.append((False, [by_position[pos].name]))
            continue
        cell = next(c for c in refs if c.index == pos)
        sub_path, sub_key = _resolve(cell, path, root)
        units.append((True, _reference(comp, cell, path, sub_path, sub_key, root, (*stack, here))))
    for i, (ref_i, names_i) in enumerate(units):
        for ref_j, names_j in units[i + 1 :]:
            if not (ref_i and ref_j) and names_i and names_j:
                comp.order_pairs.append((names_i, names_j))
    return [n for _, names in units for n in names]


def _reference(
    comp: Composition,
    cell: Cell,
    path: str,
    sub_path: Path,
    sub_key: str,
    root: Path,
    stack: tuple[tuple[str, str, int | None], ...],
) -> list[str]:
    tag = cell.first("notebook")
    assert tag is not None
    where = f"{Path(path).name}, {cell_label(cell.index)}"
    absolute = str(sub_path.absolute())
    chain = [name for _, name, _ in stack]
    if any(a == absolute for a, _, _ in stack):
        cycle = " -> ".join([*chain, sub_path.name])
        raise TagError(
            f"{tag.text!r} ({where}) closes a reference cycle: {cycle}; a notebook cannot"
            " include itself, directly or through another notebook",
            kind="composition-cycle",
            cell=cell.index,
            tag=tag.text,
            path=path,
            fix=f"remove the {tag.text} cell ({cell_label(cell.index)} of {Path(path).name})",
        )
    seen = next(
        (p for p in comp.parts if p.path and str(Path(p.path).absolute()) == absolute), None
    )
    if seen is not None:
        raise TagError(
            f"{tag.text!r} ({where}) includes {sub_key}, which this pipeline already includes"
            " once; a notebook's steps can be in a pipeline only once",
            kind="duplicate-notebook",
            cell=cell.index,
            tag=tag.text,
            path=path,
            fix=f"remove one of the notebook:{tag.name} cells",
        )
    if not sub_path.is_file():
        raise InputError(
            f"{tag.text!r} ({where}) refers to {sub_key}, which does not exist",
            kind="missing-notebook",
            cell=cell.index,
            tag=tag.text,
            path=path,
            fix=f"put {sub_path.name} beside {Path(path).name}, or set the cell's metadata"
            " 'notebook_path' to the notebook's path (relative to this notebook)",
        )
    try:
        sub = read_notebook(str(sub_path), collect_tag_errors=True)
    except KaleError as err:
        err.path = err.path or str(sub_path)
        raise
    sub_errors = list(sub.tag_errors)
    if sub_errors:
        raise combine_tag_errors(sub_errors, str(sub_path))
    from .pipeline.names import step_name_from

    return _expand(
        comp, sub, str(sub_path), sub_key, root, stack, step_name_from(sub_path.stem), []
    )


def _resolve(cell: Cell, path: str, root: Path) -> tuple[Path, str]:
    """The referenced file and its key (relative to the main notebook, posix)."""
    tag = cell.first("notebook")
    assert tag is not None
    rel = cell.notebook_path or f"{tag.name}.ipynb"
    target = Path(os.path.normpath(Path(path).absolute().parent / rel))
    try:
        key = PurePath(os.path.relpath(target, root)).as_posix()
    except ValueError:  # another drive (Windows)
        key = target.as_posix()
    return target, key


def _check_reference_cell(cell: Cell, path: str, errors: list[TagError]) -> None:
    tag = cell.first("notebook")
    assert tag is not None
    code = [
        n + 1
        for n, line in enumerate(cell.source.splitlines())
        if line.strip() and not line.strip().startswith("#")
    ]
    if code:
        errors.append(
            TagError(
                f"the {tag.text} cell holds code (line {code[0]}); a cell that includes a"
                " notebook has no code of its own (comments are fine)",
                kind="code-in-notebook-cell",
                cell=cell.index,
                line=code[0],
                tag=tag.text,
                path=path,
                fix=f"move the code to a new cell tagged step:NAME below {cell_label(cell.index)}",
            )
        )
    others = [t.text for t in cell.tags if t is not tag and t.kind != "notebook"]
    refs = [t.text for t in cell.tags if t.kind == "notebook"]
    if others or len(refs) > 1:
        errors.append(
            TagError(
                f"a notebook: cell carries other tags too: {', '.join([*refs, *others])}",
                kind="conflicting-tags",
                cell=cell.index,
                tag=(others or refs[1:])[0],
                path=path,
                fix="keep only one notebook:NAME tag on the cell; put other tags on step cells",
            )
        )


def _untagged(cell: Cell) -> bool:
    """A code cell that joins the block above it (no name, role or reference)."""
    return cell.cell_type == "code" and not any(
        (t.kind == "step" and t.name) or t.kind in _NAMED or t.kind in ("notebook", "skip")
        for t in cell.tags
    )


def _held_cells_to_steps(nb: NotebookSource, path: str, errors: list[TagError]) -> list[Cell]:
    """The cells ``graph.layout`` sees: references become markdown (no role), and untagged
    cells after a reference join the next ``step:`` cell below (Kale: a reference breaks
    the chain; they are never merged into the block above it)."""
    out: list[Cell] = []
    held: list[Cell] = []
    after: Cell | None = None  # the reference cell above the held ones

    def orphan(cells: list[Cell], ref: Cell, why: str) -> None:
        first = next(c for c in cells if c.source.strip())
        errors.append(
            TagError(
                f"{cell_label(first.index)} is untagged code below {ref.first('notebook').text!r}"  # type: ignore[union-attr]
                f" ({cell_label(ref.index)}) and {why}, so it belongs to no step",
                kind="orphan-code",
                cell=first.index,
                path=path,
                fix=f"tag {cell_label(first.index)} step:NAME (or skip), or move it above cell"
                f" {ref.index}",
            )
        )

    for cell in nb.cells:
        if is_reference(cell):
            if after is not None and any(c.source.strip() for c in held):
                orphan(
                    held, after, f"the next notebook: cell ({cell_label(cell.index)}) comes first"
                )
            out += [Cell(c.index, "markdown", c.source) for c in held]
            held, after = [], cell
            out.append(Cell(cell.index, "markdown", ""))
            continue
        if after is not None and _untagged(cell):
            held.append(cell)
            continue
        step = next((t for t in cell.tags if t.kind == "step" and t.name), None)
        if step is not None and after is not None:
            # Held cells join this step: they carry its tag (settings stay on this cell).
            name = Tag("step", "step", (step.name,), f"step:{step.name}")
            out += [replace(c, tags=(name, *c.tags)) for c in held if c.source.strip()]
            held, after = [], None
        out.append(cell)
    if after is not None and any(c.source.strip() for c in held):
        orphan(held, after, "no step: cell follows")
    return sorted(out, key=lambda c: c.index)


def _check_unique_names(comp: Composition) -> None:
    first: dict[str, tuple[Part, graph.StepGroup]] = {}
    for part, g in comp.steps:
        if g.name not in first:
            first[g.name] = (part, g)
            continue
        other, og = first[g.name]
        from .pipeline.names import step_name_from

        prefix = step_name_from(Path(part.key).stem if part.key else "main")
        tag = next((t.text for c in g.cells for t in c.tags if t.kind == "step"), None)
        raise TagError(
            f"step {g.name!r} of {part.label} ({cell_label(g.position)}) has the same name as step"
            f" {g.name!r} of {other.label} ({cell_label(og.position)}); step names must be unique"
            " across the notebooks of a pipeline",
            kind="step-name-clash",
            cell=g.position,
            tag=tag,
            path=part.path,
            fix=f"rename it in {part.label}, e.g. step:{prefix}_{g.name}, together with the"
            f" prev:{g.name} tags of {part.label} that name it",
        )
