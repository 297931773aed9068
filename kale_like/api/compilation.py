"""``compile``: notebook (or IR) -> ``DIR/<pipeline>.py`` (KFP DSL) + ``DIR/<pipeline>.yaml``.

Both files appear together or not at all: they are generated in a temporary directory next
to the output directory and renamed into place only after KFP compiled the YAML.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import InputError, KaleError, UsageError
from ..model import Pipeline
from ..pipeline import check_pipeline, load_checked

__all__ = [
    "CompileResult",
    "compile",
    "generated_file",
    "prepare_pipeline",
    "refuse_foreign_files",
    "write_atomically",
]


@dataclass(frozen=True)
class CompileResult:
    """Where the two files were written, and the pipeline they describe."""

    dsl_path: Path
    yaml_path: Path
    pipeline: Pipeline

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.pipeline.diagnostics if d.severity == "warning"]

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline.name,
            "dsl": str(self.dsl_path),
            "yaml": str(self.yaml_path),
            "steps": self.pipeline.step_names,
            "diagnostics": [d.to_json() for d in self.pipeline.diagnostics],
        }


def prepare_pipeline(
    notebook: str | os.PathLike[str] | dict[str, Any] | Pipeline,
    *,
    pipeline_name: str | None = None,
    experiment: str | None = None,
    description: str | None = None,
    base_image: str | None = None,
    observe: bool = False,
    run_root: str | os.PathLike[str] | None = None,
) -> Pipeline:
    """Load (unless given a Pipeline), apply explicit overrides, refuse error diagnostics.

    ``observe`` first runs the notebook locally when no run observed its current code, so
    the writes the analysis cannot see become edges (:mod:`kale_like.api.observed`)."""
    if pipeline_name is not None and not pipeline_name.strip():
        raise UsageError("the pipeline name is empty", kind="bad-name", tag="--name")
    overrides: dict[str, Any] = {
        "pipeline_name": pipeline_name,
        "experiment": experiment,
        "description": description,
        "base_image": base_image,
    }
    # Options override the notebook's metadata only when given explicitly.
    given = {k: v for k, v in overrides.items() if v is not None}
    # Error diagnostics refuse the compile (before any --observe run); warnings go to the caller.
    pipeline = load_checked(notebook, run_root=run_root, **given)
    if observe:
        from .observed import observe_pipeline

        pipeline = observe_pipeline(pipeline, run_root=run_root)
        check_pipeline(pipeline)
    return pipeline


def compile(  # noqa: A001 - the verb's public name
    notebook: str | os.PathLike[str] | dict[str, Any] | Pipeline,
    output_dir: str | os.PathLike[str],
    *,
    pipeline_name: str | None = None,
    experiment: str | None = None,
    description: str | None = None,
    base_image: str | None = None,
    images: dict[str, str] | None = None,
    observe: bool = False,
    run_root: str | os.PathLike[str] | None = None,
) -> CompileResult:
    """Compile a notebook (path, nbformat dict, or an analysed Pipeline) for KFP v2.

    Writes ``<output_dir>/<name>.py`` and ``<output_dir>/<name>.yaml`` (``<name>`` is the
    KFP pipeline name). ``images`` maps step names to built images that replace their base
    image. Raises :class:`InputError` for a notebook with errors, leaving nothing written.
    ``observe`` runs the notebook locally first when no run observed its current code
    (under ``run_root``); a failed run raises :class:`RunFailed` and nothing is written.
    """
    from ..codegen import dsl_filename, generate_dsl
    from ..kubeflow.compile import write_pipeline_files

    pipeline = prepare_pipeline(
        notebook,
        pipeline_name=pipeline_name,
        experiment=experiment,
        description=description,
        base_image=base_image,
        observe=observe,
        run_root=run_root,
    )
    notebook_name = Path(pipeline.notebook_path).name if pipeline.notebook_path else None
    if notebook_name is None and isinstance(notebook, (str, os.PathLike)):
        notebook_name = Path(notebook).name
    source = generate_dsl(pipeline, images, notebook_name=notebook_name)
    stem = dsl_filename(pipeline)
    out = Path(output_dir)

    def build(tmp: Path) -> None:
        write_pipeline_files(pipeline, source, tmp)

    refuse_foreign_files(out, [f"{stem}.py", f"{stem}.yaml"])
    write_atomically(out, build, [f"{stem}.py", f"{stem}.yaml"])
    return CompileResult(out / f"{stem}.py", out / f"{stem}.yaml", pipeline)


# First line of every DSL module codegen writes (see codegen._header); KFP's compiler starts
# every IR YAML with the second. A file starting otherwise was not written by a compile.
_DSL_MARK = "# Kubeflow Pipelines v2 pipeline "
_DSL_MARK_TAIL = ", generated by kale-like"
_YAML_MARK = "# PIPELINE DEFINITION"


def generated_file(path: Path) -> bool:
    """Whether ``path`` was written by a compile (so replacing it loses no user work)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(4096).rstrip("\r\n")
    except OSError:
        return False
    if path.suffix == ".py":
        return first.startswith(_DSL_MARK) and first.endswith(_DSL_MARK_TAIL)
    return first == _YAML_MARK


def refuse_foreign_files(out: Path, filenames: list[str]) -> None:
    """Raise :class:`UsageError` (exit 2) if a target exists that compile did not write.

    ``-o .`` beside ``model.ipynb`` targets ``model.py``, and a pipeline named ``helpers``
    targets ``helpers.py``: both may be the user's own code, which must never be replaced.
    """
    for name in filenames:
        target = out / name
        if (target.exists() or target.is_symlink()) and not generated_file(target):
            raise UsageError(
                f"-o/--output: {target} exists and was not generated by kale-like; "
                "refusing to overwrite it",
                kind="foreign-output",
                fix="choose another output directory (-o), rename the pipeline "
                "(--name or kubeflow_notebook.pipeline_name), or move that file away",
            )


def _cannot_write(out: Path, exc: OSError) -> KaleError:
    from ..fsutil import disk_full_error, is_disk_full

    if is_disk_full(exc):  # not a bad argument: exit 3 naming the folder
        return disk_full_error(out, "the compiled pipeline")
    return UsageError(
        f"-o/--output: cannot write to {out}: {exc.strerror or exc}",
        kind="bad-output",
        fix="choose a writable output directory",
    )


def _temp_dir(anchor: Path, out: Path) -> Path:
    """A private temporary directory beside ``out``, or inside it if only that is writable."""
    for where in (anchor, out):
        try:
            return Path(tempfile.mkdtemp(prefix=".kale-like-", dir=where))
        except OSError as exc:
            error = exc
    raise _cannot_write(out, error)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(out: Path, build: Any, filenames: list[str]) -> None:
    """Run ``build(tmp_dir)`` then move ``filenames`` from it into ``out``.

    The temporary directory lives beside ``out`` (same file system, so renames are atomic).
    A new ``out`` appears whole by one rename; into an existing one each file is replaced
    by a rename. On any error the temporary directory is removed and ``out`` is untouched.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"-o/--output: {out} exists and is not a directory",
            kind="bad-output",
            fix="choose a directory (it is created if missing)",
        )
    anchor = out.resolve().parent
    while not anchor.exists():  # create missing parents only once everything succeeded
        anchor = anchor.parent
    tmp = _temp_dir(anchor, out)
    try:
        build(tmp)
        missing = [f for f in filenames if not (tmp / f).is_file()]
        if missing:
            raise InputError(f"compile produced no {', '.join(missing)}", kind="compile-failed")
        for extra in set(os.listdir(tmp)) - set(filenames):  # e.g. __pycache__ of the import
            shutil.rmtree(tmp / extra, ignore_errors=True)
        try:
            if out.exists():
                for name in filenames:
                    os.replace(tmp / name, out / name)
            else:
                out.resolve().parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it private; a new dir is not
                os.replace(tmp, out)
        except OSError as exc:
            raise _cannot_write(out, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
