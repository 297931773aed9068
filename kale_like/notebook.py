"""The only place that reads notebooks: path / NotebookNode / dict -> :class:`NotebookSource`.

Validates what every later stage relies on (JSON, nbformat 4, a Python kernel, at least
one cell), upgrades nbformat 3 and parses each cell's tags. Unknown tags become warnings
with a did-you-mean; malformed known tags raise :class:`~kale_like.errors.TagError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic
from .errors import InputError, NotebookError, TagError, cell_label
from .notebook_metadata import check_metadata, usable
from .tags import Tag, parse_tag

METADATA_KEY = "kubeflow_notebook"


@dataclass(frozen=True)
class Cell:
    """One notebook cell; ``index`` is its 0-based position in the notebook's cell list."""

    index: int
    cell_type: str
    source: str
    tags: tuple[Tag, ...] = ()
    raw_tags: tuple[str, ...] = ()
    # Kale 2.3 composition: where a `notebook:NAME` cell's notebook is (cell metadata
    # `notebook_path`, relative to the notebook holding the cell).
    notebook_path: str | None = None

    def has(self, kind: str) -> bool:
        return any(t.kind == kind for t in self.tags)

    def first(self, kind: str) -> Tag | None:
        return next((t for t in self.tags if t.kind == kind), None)


@dataclass(frozen=True)
class NotebookSource:
    """A validated notebook: cells with parsed tags, metadata, and where it came from."""

    cells: tuple[Cell, ...]
    metadata: dict[str, Any]
    path: str | None = None
    digest: str = ""
    language: str = "python"
    python_version: str = ""
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    # Malformed tags, all of them (read_notebook(..., collect_tag_errors=True) keeps them here
    # so that the caller reports every tag error of the notebook in one pass).
    tag_errors: tuple[TagError, ...] = field(default=(), compare=False)

    @property
    def kale_metadata(self) -> dict[str, Any]:
        value = self.metadata.get(METADATA_KEY)
        return usable(value) if isinstance(value, Mapping) else {}

    @property
    def stem(self) -> str:
        return Path(self.path).stem if self.path else ""


def read_notebook(notebook: Any, *, collect_tag_errors: bool = False) -> NotebookSource:
    """Read and validate a notebook given as a path, an ``nbformat`` node or a plain dict.

    Malformed tags raise the first :class:`TagError` (listing all of them as diagnostics),
    or with ``collect_tag_errors`` are returned in ``tag_errors`` for the caller to report
    with its own checks."""
    path: str | None = None
    if isinstance(notebook, (str, os.PathLike)):
        path = os.fspath(notebook)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise NotebookError(f"no such notebook: {path}", kind="not-found", path=path) from None
        except OSError as exc:
            raise NotebookError(
                f"cannot read {path}: {exc.strerror}", kind="not-readable", path=path
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NotebookError(
                f"not a notebook: the file is not valid JSON ({exc})",
                kind="not-json",
                path=path,
                fix="save the notebook again from Jupyter, or restore it from version control",
            ) from None
    elif isinstance(notebook, Mapping):
        raw = _plain(notebook)  # a deep copy: the caller's notebook is never touched
        digest = hashlib.sha256(
            json.dumps(raw, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
    else:
        raise NotebookError(
            f"expected a notebook path or dict, got {type(notebook).__name__}",
            kind="not-a-notebook",
        )
    nb = _from_dict(raw, path, digest)
    if nb.tag_errors and not collect_tag_errors:
        raise combine_tag_errors(list(nb.tag_errors), path)
    return nb


def combine_tag_errors(errors: list[TagError], path: str | None) -> TagError:
    """One error for many: the first in notebook order, all of them as diagnostics."""
    errors = sorted(errors, key=lambda e: (e.cell is None, e.cell or 0))
    first = errors[0]
    if len(errors) == 1:
        first.path = first.path or path
        return first
    diags = [
        Diagnostic(
            "error",
            e.kind,
            f"{e.message}" + (f" (tag {e.tag!r})" if e.tag else ""),
            e.cell,
            e.line,
            e.fix,
        )
        for e in errors
    ]
    return TagError(
        f"{first.message} (and {len(errors) - 1} more tag errors)",
        kind=first.kind,
        cell=first.cell,
        line=first.line,
        tag=first.tag,
        fix=first.fix,
        path=first.path or path,
        diagnostics=diags,
    )


def _plain(node: Mapping[str, Any]) -> Any:
    """NotebookNode -> plain dicts/lists (deep)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _from_dict(raw: Any, path: str | None, digest: str) -> NotebookSource:
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise NotebookError(
            "not a notebook: the JSON has no 'nbformat' field", kind="not-a-notebook", path=path
        )
    diags: list[Diagnostic] = []
    raw = _as_nbformat4(raw, path, diags)
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}
    _check_pipeline_metadata(metadata, path, diags)
    language = _kernel_language(metadata)
    if language != "python":
        raise NotebookError(
            f"unsupported kernel: the notebook's kernel language is {language!r};"
            " only Python notebooks can become pipelines",
            kind="unsupported-kernel",
            path=path,
            fix="use a Python 3 kernel (metadata.kernelspec.language = 'python')",
        )
    tag_errors: list[TagError] = []
    cells = _cells(raw.get("cells"), path, diags, tag_errors)
    return NotebookSource(
        cells=tuple(cells),
        metadata=metadata,
        path=path,
        digest=digest,
        language=language,
        python_version=_python_version(metadata),
        diagnostics=tuple(diags),
        tag_errors=tuple(tag_errors),
    )


def _as_nbformat4(raw: dict[str, Any], path: str | None, diags: list[Diagnostic]) -> Any:
    """``raw`` as nbformat 4 (older notebooks upgraded, with an info diagnostic)."""
    major = raw.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise NotebookError(
            f"not a notebook: 'nbformat' is {major!r}, not a version number",
            kind="not-a-notebook",
            path=path,
            fix="save the notebook again from Jupyter, or restore it from version control",
        )
    if major == 4:
        return raw
    upgraded = _upgrade(raw, path)
    diags.append(
        Diagnostic(
            "info",
            "upgraded-nbformat",
            f"nbformat {major} notebook upgraded to nbformat 4 for analysis",
            fix="open and save it in Jupyter to upgrade the file itself",
        )
    )
    return upgraded


def _check_pipeline_metadata(
    metadata: dict[str, Any], path: str | None, diags: list[Diagnostic]
) -> None:
    """Diagnose the notebook-level pipeline settings (a non-object is ignored, with a
    warning); an invalid setting raises, naming the notebook."""
    kale = metadata.get(METADATA_KEY)
    if kale is None:
        return
    if not isinstance(kale, dict):
        diags.append(
            Diagnostic(
                "warning",
                "ignored-metadata",
                f"notebook metadata {METADATA_KEY!r} is ignored: {kale!r} is not an object",
                fix="open the notebook in Jupyter and set the pipeline settings again",
            )
        )
        return
    try:
        diags += check_metadata(kale)
    except InputError as err:
        err.path = path
        raise


def _cells(
    raw_cells: Any, path: str | None, diags: list[Diagnostic], tag_errors: list[TagError]
) -> list[Cell]:
    """The notebook's cells; raises unless some code cell has code to run."""
    if not isinstance(raw_cells, list):
        raise NotebookError(
            "not a notebook: 'cells' is not a list", kind="not-a-notebook", path=path
        )
    if not raw_cells:
        raise NotebookError(
            "the notebook is empty (no cells)",
            kind="empty",
            path=path,
            fix="add code cells and tag them with step:NAME",
        )
    cells = []
    for index, rc in enumerate(raw_cells):
        if not isinstance(rc, dict):
            raise NotebookError(
                f"{cell_label(index)} is not an object",
                kind="not-a-notebook",
                path=path,
                cell=index,
            )
        cells.append(_cell(index, rc, path, diags, tag_errors))
    # A composition notebook may hold only `notebook:` cells, which are empty by design.
    if not any(c.cell_type == "code" and (c.source.strip() or c.has("notebook")) for c in cells):
        raise NotebookError(
            "the notebook has no code to run (no non-empty code cell)",
            kind="empty",
            path=path,
        )
    return cells


def _python_version(metadata: dict[str, Any]) -> str:
    """``major.minor`` of the notebook's Python (language_info), else this interpreter's."""
    info = metadata.get("language_info") or {}
    version = str(info.get("version") or "") if isinstance(info, dict) else ""
    major_minor = ".".join(version.split(".")[:2]) if version else ""
    if not major_minor:
        major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    return major_minor


def _upgrade(raw: dict[str, Any], path: str | None) -> dict[str, Any]:
    import nbformat

    try:
        # reads() rejoins v3 line lists before converting, which convert() alone does not.
        upgraded = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # nbformat raises many types on malformed old notebooks
        raise NotebookError(
            f"cannot upgrade nbformat {raw.get('nbformat')} notebook to nbformat 4: {exc}",
            kind="upgrade-or-clear-error",
            path=path,
            fix="open and save the notebook in a current Jupyter to upgrade it",
        ) from None
    result = _plain(upgraded)
    assert isinstance(result, dict)
    return result


def _kernel_language(metadata: dict[str, Any]) -> str:
    spec = metadata.get("kernelspec")
    if isinstance(spec, dict) and spec.get("language"):
        return str(spec["language"]).lower()
    info = metadata.get("language_info")
    if isinstance(info, dict) and info.get("name"):
        return str(info["name"]).lower()
    return "python"


def _malformed(index: int, path: str | None, what: str) -> NotebookError:
    return NotebookError(
        f"not a notebook: {what}",
        kind="not-a-notebook",
        path=path,
        cell=index,
        fix="fix the cell in Jupyter (or the JSON), or restore it from version control",
    )


def _cell(
    index: int,
    rc: dict[str, Any],
    path: str | None,
    diags: list[Diagnostic],
    tag_errors: list[TagError],
) -> Cell:
    source = rc.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise _malformed(index, path, f"'source' must be text, got {type(source).__name__}")
    cell_type = str(rc.get("cell_type", "code"))
    meta = rc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise _malformed(index, path, f"'metadata' must be an object, got {type(meta).__name__}")
    raw_tags = meta.get("tags")
    # A tag dropped silently (e.g. "tags": "step:a") would change the pipeline unnoticed.
    if raw_tags is not None and not (
        isinstance(raw_tags, list) and all(isinstance(t, str) for t in raw_tags)
    ):
        raise _malformed(
            index, path, f"'metadata.tags' must be a list of strings, got {raw_tags!r}"
        )
    if not raw_tags or cell_type != "code":
        return Cell(index, cell_type, source)
    tags: list[Tag] = []
    texts: list[str] = []
    for text in raw_tags:
        texts.append(text)
        try:
            tags.append(parse_tag(text))
        except TagError as err:
            if err.kind != "unknown-tag":
                err.cell = index
                err.path = path
                tag_errors.append(err)
                continue
            diags.append(
                Diagnostic(
                    "warning",
                    "unknown-tag",
                    f"unknown tag {text!r} is ignored",
                    cell=index,
                    fix=err.fix,
                )
            )
    ref = meta.get("notebook_path")
    return Cell(
        index,
        cell_type,
        source,
        tuple(tags),
        tuple(texts),
        ref if isinstance(ref, str) and ref.strip() else None,
    )
