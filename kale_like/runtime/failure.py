"""The one error a step raises: :class:`StepFailed` (its own module so the runtime's parts
can raise it without importing the package that runs them)."""

from __future__ import annotations

from typing import Any

from ..errors import RunFailed

__all__ = ["StepFailed"]


class StepFailed(RunFailed):
    """A step's user code failed (or a value it produced could not be saved)."""

    # Tracebacks and pickles name it where it is imported from (``kale_like.runtime``).
    __module__ = "kale_like.runtime"

    default_kind = "step-failed"

    def __init__(
        self,
        message: str,
        *,
        step: str,
        cell: int | None = None,
        exc_type: str | None = None,
        traceback: str | None = None,
        variable: str | None = None,
        fix: str | None = None,
        kind: str | None = None,
        summary: str | None = None,
    ) -> None:
        super().__init__(message, step=step, cell=cell, fix=fix, kind=kind)
        self.exc_type = exc_type
        self.traceback = traceback
        self.variable = variable
        # One line without the step/cell prefix, e.g. "ZeroDivisionError: division by zero".
        self.summary = summary or message

    def where(self) -> str:
        # The message already names the step and cell.
        return str(self.path) if self.path else ""

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update(
            step=self.step,
            exc_type=self.exc_type,
            traceback=self.traceback,
            variable=self.variable,
            summary=self.summary,
        )
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepFailed:
        return cls(
            data["message"],
            step=data.get("step") or "",
            cell=data.get("cell"),
            exc_type=data.get("exc_type"),
            traceback=data.get("traceback"),
            variable=data.get("variable"),
            summary=data.get("summary"),
            fix=data.get("fix"),
            kind=data.get("error"),
        )
