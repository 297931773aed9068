"""The verbs shared by the CLI, the Jupyter server extension, the widgets and papermill.

``kale_like.api.run`` is the ``run`` function. Each verb lives in a module of its own,
named for what it holds (no module shares a verb's name), and is imported on first use
(PEP 562 ``__getattr__``), so importing ``kale_like.api`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# public verb -> its module, relative to this package
_VERBS: dict[str, str] = {
    "load_pipeline": ".analysis",
    "analyze": ".analysis",
    "compile": ".compilation",
    "run": ".execution",
    # The verify verb package sits beside api: it runs its pipeline through api.execution.
    "verify": "..verification",
    "runs_list": ".history",
    "runs_show": ".history",
    "build": ".image_builds",
    "deploy": ".deployment",
    "submit_and_wait": ".deployment",
    "remote_runs_list": ".deployment",
    "remote_run_show": ".deployment",
    "sweep": ".sweeps",
    "trial": ".trials",
    "suggest": ".suggestions",
}

__all__ = sorted(_VERBS)


def __getattr__(name: str) -> Any:
    # Not cached in globals: the verb is looked up in its module on every access, so
    # `api.run is api.execution.run` always holds, and patching the module patches `api.run`.
    module = _VERBS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return __all__
