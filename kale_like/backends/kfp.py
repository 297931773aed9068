"""The KFP backend, compile side: generated DSL file -> IR YAML through ``kfp.compiler``.

The YAML is never written by hand: the DSL module is imported from its file (lightweight
components need real source files for ``inspect.getsource``) and its ``pipeline`` function is
compiled by KFP. Upload and run helpers live in :mod:`kale_like.backends.kfp_client`.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, InputError, missing_extra

PIPELINE_FUNCTION = "pipeline"


def _compiler() -> Any:
    try:
        from kfp import compiler
    except ImportError as exc:  # pragma: no cover - kfp is a core dependency
        raise missing_extra("kfp", "kfp", "compiling a pipeline") from exc
    return compiler


def load_dsl_module(dsl_path: str | Path) -> Any:
    """Import the generated module from its file under a unique, temporary module name."""
    path = Path(dsl_path).resolve()
    module_name = f"_kale_like_dsl_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EnvironmentProblem(f"cannot import the generated DSL file {path}", kind="dsl-import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclass/typing machinery looks modules up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    return module


def compile_dsl(dsl_path: str | Path, yaml_path: str | Path) -> Path:
    """Compile the DSL module at ``dsl_path`` into the KFP IR YAML at ``yaml_path``.

    KFP rejects some setting values only here (e.g. a malformed CPU or memory quantity);
    those become :class:`InputError` (exit 2) naming the value KFP refused.
    """
    compiler = _compiler()
    try:
        module = load_dsl_module(dsl_path)
        pipeline_func = getattr(module, PIPELINE_FUNCTION)
        compiler.Compiler().compile(pipeline_func, str(yaml_path))
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"KFP refused the pipeline: {exc}",
            kind="kfp-compile-error",
            fix="check the step settings (cpu/memory quantities, GPU counts, names)",
        ) from exc
    return Path(yaml_path)
