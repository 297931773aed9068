"""``python -m kale_like.engines.local.stepmain JOB.json``: the runtime, plus final values.

Used only for runs that keep final variable values (``run(..., keep_values=True)``, verify,
the corpus tests): besides the step's declared outputs, every global the step leaves behind
that can be saved is written under the job's ``keep_dir``, so a run can report each
variable's final value even when no later step reads it. Values that cannot be saved are
skipped silently; they are not part of the pipeline's contract.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

_SKIP = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def save_globals(ns: dict[str, Any], keep_dir: str) -> None:
    from ...runtime import artifacts

    root = Path(keep_dir)
    root.mkdir(parents=True, exist_ok=True)
    for name, value in list(ns.items()):
        if name.startswith("_") or name in _SKIP or isinstance(value, types.ModuleType):
            continue
        # Functions and classes of the notebook pickle by reference to a step's __main__:
        # they could not be loaded back outside a step.
        if getattr(value, "__module__", None) == "__main__" and isinstance(
            value, (type, types.FunctionType)
        ):
            continue
        try:
            artifacts.save_value(name, value, root / name)
        except Exception:
            continue


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    keep_dir = None
    try:
        keep_dir = json.loads(Path(args[0]).read_text(encoding="utf-8")).get("keep_dir")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    if keep_dir:
        from ...runtime import execute

        # The runtime closes its cell runner after saving the step's outputs: the moment
        # the step's globals are final. (Wrapped here so the runtime needs no extra option.)
        close = execute.CellRunner.close

        def close_and_keep(self: Any) -> None:
            try:
                ns = getattr(self, "ns", None)
                if isinstance(ns, dict):
                    save_globals(ns, keep_dir)
            finally:
                close(self)

        execute.CellRunner.close = close_and_keep  # type: ignore[method-assign]
    from ...runtime.__main__ import main as runtime_main

    return runtime_main(args)


if __name__ == "__main__":
    sys.exit(main())
