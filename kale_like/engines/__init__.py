"""The engines that run a pipeline, and the registry that finds them by name.

``local`` (``engines/local/``), ``kfp-local`` (``kfp_local.py``), ``docker`` (``docker.py``)
and ``kfp`` (``kubeflow.py``) are loaded from the registry by import path on first use, so
importing this package never imports KFP or Docker.
"""

from .registry import (
    BUILTIN_CAPABILITIES,
    BUILTIN_ENGINES,
    BUILTIN_OPTIONS,
    ENTRY_POINT_GROUP,
    KFP_ARGUMENTS,
    RECORDS_OBSERVED,
    CancelToken,
    Engine,
    RunRequest,
    available,
    capabilities,
    check_options,
    engine_registry,
    get,
    option_names,
    register,
)

__all__ = [
    "BUILTIN_CAPABILITIES",
    "BUILTIN_ENGINES",
    "BUILTIN_OPTIONS",
    "ENTRY_POINT_GROUP",
    "KFP_ARGUMENTS",
    "RECORDS_OBSERVED",
    "CancelToken",
    "Engine",
    "RunRequest",
    "available",
    "capabilities",
    "check_options",
    "engine_registry",
    "get",
    "option_names",
    "register",
]
