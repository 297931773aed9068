"""Structured findings of the analysis: what, where, how bad, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import cell_label

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``kind`` is kebab-case and stable (tests and the UI key on it)."""

    severity: Severity
    kind: str
    message: str
    cell: int | None = None
    line: int | None = None
    fix: str | None = None
    step: str | None = None
    # The referenced notebook (relative to the main one) ``cell`` is in; None: the main one.
    notebook: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "kind": self.kind,
            "cell": self.cell,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }
        if self.notebook is not None:
            out["notebook"] = self.notebook
        return out

    def format(self, path: str | None = None) -> str:
        where = []
        if path:
            where.append(path)
        if self.notebook is not None:
            where.append(self.notebook)
        if self.cell is not None:
            where.append(cell_label(self.cell))
        if self.line is not None:
            where.append(f"line {self.line}")
        loc = ", ".join(where)
        text = f"{self.severity}[{self.kind}] {loc + ': ' if loc else ''}{self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


def errors(diags: list[Diagnostic] | tuple[Diagnostic, ...]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "error"]
