"""What ``verify`` reports: mismatches and their text/JSON renderings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Mismatch:
    """One disagreement between the top-to-bottom run and the pipeline."""

    step: str
    variable: str | None
    kind: str  # "input" | "output" | "metric" | "failure"
    detail: str
    cause: str

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "variable": self.variable,
            "kind": self.kind,
            "detail": self.detail,
            "cause": self.cause,
        }

    def to_text(self) -> str:
        what = f"variable {self.variable!r}" if self.variable else self.kind
        kind = f"{self.kind} " if self.variable and self.kind != "output" else ""
        return f"step {self.step!r}, {kind}{what}: {self.detail}\n  likely cause: {self.cause}"


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`; ``ok`` is False when the runs diverge."""

    notebook: str
    ok: bool
    mismatches: list[Mismatch] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # "step.variable" / "metric:name"
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)
    run_status: str = "succeeded"  # of the pipeline run: a run can fail and still agree
    result: Any = field(default=None, repr=False, compare=False)  # the pipeline's RunResult

    @property
    def first(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None

    def to_json(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "ok": self.ok,
            "run_id": self.run_id,
            "run_status": self.run_status,
            "compared": len(self.compared),
            "mismatches": [m.to_json() for m in self.mismatches],
            "notes": self.notes,
            # The pipeline run itself, as `run --json` prints it (status, steps, metrics).
            "run": self.result.to_json() if hasattr(self.result, "to_json") else None,
        }

    def to_text(self) -> str:
        if self.ok:
            lines = [
                f"verify: OK: the pipeline agrees with a top-to-bottom run of "
                f"{self.notebook} ({len(self.compared)} values compared)"
            ]
        else:
            lines = [
                f"verify: DIVERGED: the pipeline disagrees with a top-to-bottom run of "
                f"{self.notebook}",
                "first divergence:",
            ]
            lines += ["  " + line for line in self.mismatches[0].to_text().splitlines()]
            if len(self.mismatches) > 1:
                lines.append(f"({len(self.mismatches) - 1} more mismatch(es) after it)")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
