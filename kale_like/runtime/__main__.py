"""``python -m kale_like.runtime JOB.json``: run one step from a job file.

The job file holds ``spec``, ``inputs``, ``state_inputs``, ``outputs``, ``state_output``,
``parameters``, ``report_path``, ``notebook_path``, ``result_path`` and optionally
``workspace_inputs`` / ``workspace_output`` (see :mod:`kale_like.runtime.workspace`). The
result file gets
``{"status": "succeeded", "metrics", "outputs", "seconds", ...}`` or
``{"status": "failed", "error": {...}}``. Exit codes: 0 ok, 1 the step failed, 2 bad job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..fsutil import write_text_atomic


def _write_result(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    write_text_atomic(Path(path), json.dumps(data, default=repr))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kale_like.runtime JOB.json", file=sys.stderr)
        return 2
    try:
        job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        spec = job["spec"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"kale_like.runtime: cannot read job file {args[0]!r}: {exc}", file=sys.stderr)
        return 2
    from .failure import StepFailed
    from .step import run_step

    result_path = job.get("result_path")
    try:
        outcome = run_step(
            spec,
            inputs=job.get("inputs") or {},
            state_inputs=job.get("state_inputs") or {},
            outputs=job.get("outputs") or {},
            state_output=job.get("state_output"),
            parameters=job.get("parameters") or {},
            report_path=job.get("report_path"),
            notebook_path=job.get("notebook_path"),
            observe_dir=job.get("observe_dir"),
            workspace_inputs=job.get("workspace_inputs") or (),
            workspace_output=job.get("workspace_output"),
        )
    except StepFailed as exc:
        _write_result(
            result_path, {"status": "failed", "step": spec.get("step"), "error": exc.to_json()}
        )
        print(str(exc), file=sys.stderr)
        if exc.traceback:
            print(exc.traceback, file=sys.stderr, end="")
        return 1
    except BaseException as exc:
        import traceback

        _write_result(
            result_path,
            {
                "status": "failed",
                "step": spec.get("step"),
                "error": {
                    "error": "runtime-error",
                    "message": f"{type(exc).__name__}: {exc}",
                    "step": spec.get("step"),
                    "cell": None,
                    "exc_type": type(exc).__name__,
                    "traceback": traceback.format_exc(),
                    "exit_code": 1,
                },
            },
        )
        raise
    _write_result(
        result_path, {"status": "succeeded", "step": spec.get("step"), **outcome.to_json()}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
