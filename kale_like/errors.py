"""One exception tree for kale_like.

    KaleError                      base; carries a message, an exit code and optional fields
    ├── InputError (exit 2)        bad notebook, tags or arguments
    │   ├── NotebookError          not JSON / not a notebook / unsupported kernel / empty
    │   ├── TagError               malformed or conflicting tags, invalid step names
    │   ├── AnalysisError          syntax errors, bad parameters/metrics cells, cycles
    │   └── UsageError             bad CLI arguments or parameter values
    ├── EnvironmentProblem (exit 3)  a missing engine, registry, cluster or optional package
    └── RunFailed (exit 1)         a pipeline ran and a step failed (or verify diverged)

Every error carries ``kind`` (kebab-case, e.g. ``unknown-prev``), and where known the notebook
``cell`` index (0-based), ``line`` (1-based, inside the cell), the ``tag`` at fault and a
``fix`` suggestion. ``str(err)`` gives a one-paragraph message fit for a terminal.

Cell numbers: ``cell`` fields (and every JSON ``cell``) are the 0-based position in the
notebook's cell list, as JupyterLab's API indexes cells; text a person reads says
``cell N`` numbered from 1 over all cells, as JupyterLab's status bar does. Text gets its
number from :func:`cell_label` / :func:`cell_number` only.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3


def cell_number(index: int) -> int:
    """The number a person reads for the cell at 0-based ``index`` (JupyterLab's "Cell N")."""
    return index + 1


def cell_label(index: int) -> str:
    """``cell N`` for the cell at 0-based ``index``, numbered as JupyterLab's status bar."""
    return f"cell {cell_number(index)}"


class KaleError(Exception):
    """Base of every error kale_like raises on purpose."""

    exit_code: int = EXIT_BAD_INPUT
    default_kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        cell: int | None = None,
        line: int | None = None,
        tag: str | None = None,
        fix: str | None = None,
        path: str | None = None,
        diagnostics: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind or self.default_kind
        self.cell = cell
        self.line = line
        self.tag = tag
        self.fix = fix
        self.path = path
        self.diagnostics = list(diagnostics or [])

    def where(self) -> str:
        """Human location: ``file, cell 3, line 2, tag prev:x`` (cell numbered as Jupyter does)."""
        parts = []
        if self.path:
            parts.append(str(self.path))
        if self.cell is not None:
            parts.append(cell_label(self.cell))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.tag is not None:
            parts.append(f"tag {self.tag!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        if len(self.diagnostics) > 1:  # every problem at once: one edit-and-rerun round
            text += "\n  all of them:"
            for d in self.diagnostics:
                text += "\n    " + (d.format() if hasattr(d, "format") else str(d))
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "error": self.kind,
            "message": self.message,
            "path": self.path,
            "cell": self.cell,
            "line": self.line,
            "tag": self.tag,
            "fix": self.fix,
            "exit_code": self.exit_code,
            "diagnostics": [d.to_json() if hasattr(d, "to_json") else d for d in self.diagnostics],
        }


class InputError(KaleError):
    """The notebook, its tags or the arguments are wrong (exit 2)."""

    exit_code = EXIT_BAD_INPUT
    default_kind = "bad-input"


class NotebookError(InputError):
    default_kind = "bad-notebook"


class TagError(InputError):
    default_kind = "bad-tag"


class AnalysisError(InputError):
    default_kind = "analysis-error"


class UsageError(InputError):
    default_kind = "usage"


class EnvironmentProblem(KaleError):
    """Something outside the notebook is missing or unreachable (exit 3)."""

    exit_code = EXIT_ENVIRONMENT
    default_kind = "environment"


class RunFailed(KaleError):
    """A pipeline ran and did not succeed (exit 1)."""

    exit_code = EXIT_RUN_FAILED
    default_kind = "run-failed"

    def __init__(self, message: str, *, step: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.step = step


def missing_extra(package: str, extra: str, purpose: str) -> EnvironmentProblem:
    """The error for a lazily imported optional dependency that is not installed."""
    return EnvironmentProblem(
        f"{purpose} needs the package {package!r}, which is not installed",
        kind="missing-package",
        fix=f"pip install 'kale-like[{extra}]'",
    )
