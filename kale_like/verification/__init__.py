"""``verify``: run a notebook top to bottom and as a pipeline, and prove both agree.

The top-to-bottom run is papermill over a temporary copy of the notebook (``skip`` cells
removed, the same parameters), with small cells injected before each step's first cell and
after its last one that save the variables the step receives and passes on (with the same
marshal registry the runtime uses) and its metrics. The pipeline run goes through
:func:`kale_like.api.execution.run`. Then every variable passed between steps is compared
(:mod:`.compare`); the first divergence is reported with its likely cause. The user's
notebook is never modified.

The verb is :mod:`.verb`; :mod:`.compare`, :mod:`.top_to_bottom`, :mod:`.composed` and
:mod:`.mismatches` know nothing of the verbs or the engines.
"""

from .mismatches import Mismatch, VerifyReport
from .top_to_bottom import top_to_bottom_notebook
from .verb import verify

__all__ = ["Mismatch", "VerifyReport", "top_to_bottom_notebook", "verify"]
