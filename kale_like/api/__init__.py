"""The verbs shared by the CLI, the Jupyter server extension, the widgets and papermill.

Each verb lives in its own module and is imported on first use, so importing
``kale_like.api`` stays cheap.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# public verb -> module under kale_like.api
_VERBS: dict[str, str] = {
    "load_pipeline": "analysis",
    "analyze": "analysis",
    "compile": "compilation",
    "run": "execution",
    "verify": "execution",
    "runs_list": "history",
    "runs_show": "history",
    "build": "image_builds",
    "deploy": "deployment",
    "submit_and_wait": "deployment",
    "remote_runs_list": "deployment",
    "remote_run_show": "deployment",
    "sweep": "sweeps",
    "trial": "trials",
    "suggest": "suggestions",
}

__all__ = sorted(_VERBS)


def __getattr__(name: str) -> Any:
    module = _VERBS.get(name)
    if module is None:
        raise AttributeError(f"module 'kale_like.api' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


class _ApiModule(types.ModuleType):
    """Verbs win over submodules of the same name.

    Importing ``kale_like.api.run`` makes Python bind the package attribute ``run`` to the
    submodule; this class resolves verb names to the functions whatever was imported first.
    """

    def __getattribute__(self, name: str) -> Any:
        if name in _VERBS:
            module = importlib.import_module(f"{__name__}.{_VERBS[name]}")
            return getattr(module, name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _ApiModule


def verb(name: str) -> Any:
    """The verb ``name`` resolved through its module. Prefer this (or ``from
    kale_like.api.run import run``) to ``api.run``: once a submodule such as
    ``kale_like.api.run`` is imported, Python binds the package attribute ``run`` to it."""
    module = _VERBS.get(name)
    if module is None:
        raise AttributeError(f"kale_like.api has no verb {name!r}; verbs: {', '.join(__all__)}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
