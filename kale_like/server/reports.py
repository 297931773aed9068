"""Step reports as the user sees them: the executed step notebook rendered by nbconvert
(like the notebook itself, rich outputs included), on first view and cached beside it.

The step runtime writes only the executed ``step.ipynb`` and a small, fast HTML page;
nbconvert (~1 s per step, mostly imports) never runs on a run's critical path.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..fsutil import write_text_atomic

log = logging.getLogger(__name__)

STEP_NOTEBOOK = "step.ipynb"
RENDERED = "report.nbconvert.html"


def rendered(report: Path) -> Path:
    """The file to serve for ``report``: for a step's ``report.html`` whose executed
    ``step.ipynb`` is beside it, its nbconvert rendering (made now when missing or older
    than the notebook); else ``report`` itself (also when nbconvert cannot render it)."""
    nb_path = report.with_name(STEP_NOTEBOOK)
    if report.suffix != ".html" or report.name == RENDERED or not nb_path.is_file():
        return report
    out = report.with_name(RENDERED)
    try:
        if out.is_file() and out.stat().st_mtime_ns >= nb_path.stat().st_mtime_ns:
            return out
        from ..runtime.step_notebook import render_nbconvert

        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        write_text_atomic(out, render_nbconvert(nb))
    except Exception:  # noqa: BLE001 - the fast report is still there to show
        log.warning("kale-like: nbconvert could not render %s", nb_path, exc_info=True)
        return report
    return out
