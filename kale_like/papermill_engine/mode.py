"""Which way a papermill run goes: a cached pipeline, or cell by cell in a kernel.

The rule (a conformant result beats speed; the first that applies wins):

1. ``KALE_LIKE_PAPERMILL_MODE=kernel`` -> kernel.
2. No step tag (``step:NAME``, ``block:NAME``, ``notebook:NAME``) -> kernel: the notebook
   is not a pipeline, and a one-step pipeline gains nothing over papermill.
3. ``--execution-timeout`` -> kernel: the limit is per cell, and only a kernel stops a cell.
4. The kernel is unknown or not Python -> kernel (an unknown one fails as with papermill).
5. The code can end the process (``sys.exit``, ``SystemExit``, ``exit()``, ``quit()``,
   ``os._exit``) -> kernel: papermill stops the whole run at that cell; parallel steps
   cannot.
6. The analysis refuses the notebook -> kernel, with the analysis' message as a warning.
7. Otherwise -> pipeline: steps in parallel, unchanged ones from the cache, code running
   in papermill's working directory (the process's, i.e. ``--cwd`` when given). The cache
   is off when ``KALE_LIKE_CACHE=0`` (or ``false``/``no``/``off``) or the notebook metadata
   says ``kubeflow_notebook.cache: false``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..model import Pipeline

MODE_ENV = "KALE_LIKE_PAPERMILL_MODE"
CACHE_ENV = "KALE_LIKE_CACHE"
_OFF = {"0", "false", "no", "off"}
_STEP_TAG = re.compile(r"^(step|block|notebook):\S")
# Generous on purpose: a false hit only costs the pipeline's speed, never correctness.
_EXITS = re.compile(r"\bsys\s*\.\s*exit\b|\bSystemExit\b|\bos\s*\.\s*_exit\b|\b(exit|quit)\s*\(")


@dataclass(frozen=True)
class Choice:
    """The decision and why (``reason`` is logged; ``warning`` is shown as a warning)."""

    mode: Literal["kernel", "pipeline"]
    reason: str
    pipeline: Pipeline | None = None
    use_cache: bool = True
    warning: str | None = None


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def has_step_tags(nb: Any) -> bool:
    """True when some cell carries a named step, block or notebook tag."""
    return any(
        isinstance(tag, str) and _STEP_TAG.match(tag)
        for c in nb.get("cells", [])
        for tag in (c.get("metadata", {}).get("tags") or [])
    )


def can_exit(nb: Any) -> bool:
    """True when some code cell may end the process (papermill stops the run there)."""
    return any(_EXITS.search(_source(c)) for c in _code_cells(nb))


def cache_enabled(nb: Any, env: dict[str, str] | None = None) -> bool:
    """False when ``KALE_LIKE_CACHE`` is off or ``kubeflow_notebook.cache`` is false."""
    value = (os.environ if env is None else env).get(CACHE_ENV, "").strip().lower()
    if value in _OFF:
        return False
    meta = nb.get("metadata", {}).get("kubeflow_notebook") or {}
    return not (isinstance(meta, dict) and meta.get("cache") is False)


def kernel_language(kernel_name: str | None) -> str | None:
    """The language of an installed kernel, or None when it is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return str(KernelSpecManager().get_kernel_spec(kernel_name or "python3").language)
    except NoSuchKernel:
        return None


def where(err: Any) -> str:
    """``message (cell 3, line 2); fix: ...`` of a KaleError, for the warning."""
    text = getattr(err, "message", None) or str(err)
    loc = err.where() if hasattr(err, "where") else ""
    fix = getattr(err, "fix", None)
    return text + (f" ({loc})" if loc else "") + (f"; fix: {fix}" if fix else "")


def choose(
    nb: Any,
    kernel_name: str | None,
    options: dict[str, Any],
    notebook_path: str | None,
) -> Choice:
    """Apply the module's rule to a parameterized notebook."""
    if os.environ.get(MODE_ENV, "auto").strip().lower() == "kernel":
        return Choice("kernel", f"{MODE_ENV}=kernel")
    if not has_step_tags(nb):
        return Choice("kernel", "no step tags")
    if options.get("execution_timeout"):
        return Choice("kernel", "--execution-timeout limits each cell")
    if kernel_language(kernel_name) != "python":
        return Choice("kernel", f"kernel {kernel_name!r} is not an installed Python kernel")
    if can_exit(nb):
        return Choice("kernel", "the notebook may call sys.exit")
    from ..api.analysis import load_checked
    from ..errors import KaleError

    try:
        pipeline = load_checked(nb, path=notebook_path)
    except KaleError as err:
        message = (
            f"kale_like cannot run this notebook as a pipeline: {where(err)}. "
            "It runs cell by cell in a kernel instead, as papermill runs it."
        )
        return Choice("kernel", "the analysis refused the notebook", warning=message)
    return Choice("pipeline", "step tags", pipeline=pipeline, use_cache=cache_enabled(nb))


def notebook_path_for(input_path: Any) -> str | None:
    """The input notebook's absolute path, when it is a local file reachable from here.

    papermill has already changed into ``--cwd``; a relative input path that does not exist
    from here is left out (no folder is ever made beside a path that is not the notebook's).
    """
    if not isinstance(input_path, (str, os.PathLike)) or "://" in str(input_path):
        return None
    path = Path(input_path)
    return str(path.absolute()) if path.is_file() else None
