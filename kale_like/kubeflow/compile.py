"""The KFP backend, compile side: generated DSL file -> IR YAML through ``kfp.compiler``.

:func:`compile_pipeline` writes both files of a checked pipeline into a folder: the engines
that run the compiled pipeline use it directly, the ``compile`` verb inside its atomic write.

The YAML is never written by hand: the DSL module is imported from its file (lightweight
components need real source files for ``inspect.getsource``) and its ``pipeline`` function is
compiled by KFP. Upload and run helpers live in :mod:`kale_like.kubeflow.client`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, missing_extra
from ..model import Pipeline

PIPELINE_FUNCTION = "pipeline"
# Line breaks as YAML reads them: a comment line must not contain any of them.
_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Characters a YAML reader refuses anywhere in the file, comments included.
_YAML_UNPRINTABLE = re.compile("[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


def compile_dsl(dsl_path: str | Path, yaml_path: str | Path, pipeline: Any = None) -> Path:
    """Compile the DSL module at ``dsl_path`` into the KFP IR YAML at ``yaml_path``.

    KFP rejects some setting values only here (e.g. a CPU or memory quantity Kubernetes
    takes but KFP does not); those and any other refusal become :class:`InputError`
    (exit 2) naming the step, tag or variable in the user's words
    (:func:`.kfp_errors.compile_refusal`); ``pipeline`` (the IR the module was generated
    from) lets it also name the notebook and the cell carrying the tag.
    """
    try:
        module = load_dsl_module(dsl_path)
        write_yaml(getattr(module, PIPELINE_FUNCTION), yaml_path)
    except (ValueError, TypeError) as exc:
        from .errors import compile_refusal

        raise compile_refusal(exc, Path(dsl_path), pipeline) from exc
    return Path(yaml_path)


def write_yaml(pipeline_func: Any, yaml_path: str | Path) -> Path:
    """KFP-compile ``pipeline_func`` to ``yaml_path`` and make its comment header safe.

    The one writer of IR YAML: ``kale-like compile`` and the generated module's
    ``__main__`` (``python out/<pipeline>.py``) both call it, so they write the same bytes.
    """
    _compiler().Compiler().compile(pipeline_func, str(yaml_path))
    _harden_header(pipeline_func, Path(yaml_path))
    return Path(yaml_path)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _harden_header(pipeline_func: Any, yaml_path: Path) -> None:
    """Rewrite the comment header KFP puts above the YAML; the YAML itself is untouched.

    KFP 2.17 prints default values into that comment as ``str(value)``: a string default
    holding a line break would start an uncommented YAML line (an injected key), control
    characters make YAML readers refuse the whole file, and dict defaults print in protobuf
    map order, which varies between runs. The header is rebuilt by KFP's own function from
    the spec with dict keys sorted, then every line is commented and escaped.
    """
    with open(yaml_path, encoding="utf-8", newline="") as f:  # keep \r as KFP wrote it
        text = f.read()
    # The YAML body is `yaml.dump_all(..., sort_keys=True)` of the pipeline spec, so it
    # starts with the top-level key `components:`, the only column-0 line of that name in
    # the body; anything an injected default adds to the header comes before it.
    start = text.rfind("\ncomponents:\n") + 1
    if start == 0 or not text.startswith("# PIPELINE DEFINITION"):
        raise EnvironmentProblem(
            "the KFP compiler wrote an unexpected YAML layout; cannot check its header",
            kind="kfp-version",
            fix="install kfp==2.17.*",
        )
    from google.protobuf import json_format
    from kfp.compiler import pipeline_spec_builder as builder

    spec = _sorted(json_format.MessageToDict(pipeline_func.pipeline_spec))
    header = builder.extract_comments_from_pipeline_spec(spec, pipeline_func.description)
    lines = _YAML_BREAKS.split(header.rstrip("\n"))
    lines = [_YAML_UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], line) for line in lines]
    safe = "".join((line if line.startswith("#") else "#  " + line) + "\n" for line in lines)
    with open(yaml_path, "w", encoding="utf-8", newline="") as f:
        f.write(safe + text[start:])


def write_pipeline_files(pipeline: Pipeline, source: str, out_dir: Path) -> tuple[Path, Path]:
    """Write the DSL ``source`` generated from ``pipeline`` into ``out_dir`` and compile it
    to the IR YAML beside it; returns ``(dsl_path, yaml_path)``."""
    from ..codegen import dsl_filename

    stem = dsl_filename(pipeline)
    dsl_path = out_dir / f"{stem}.py"
    dsl_path.write_text(source, encoding="utf-8")
    yaml_path = out_dir / f"{stem}.yaml"
    compile_dsl(dsl_path, yaml_path, pipeline)
    return dsl_path, yaml_path


def compile_pipeline(
    pipeline: Pipeline, out_dir: Path, *, images: dict[str, str] | None = None
) -> tuple[Path, Path]:
    """Generate and compile a checked ``pipeline`` into ``out_dir`` (an existing folder);
    ``images`` maps step names to built images. Returns ``(dsl_path, yaml_path)``."""
    from ..codegen import generate_dsl

    name = Path(pipeline.notebook_path).name if pipeline.notebook_path else None
    source = generate_dsl(pipeline, images, notebook_name=name)
    return write_pipeline_files(pipeline, source, out_dir)
