"""What runs inside a step, in every engine: :func:`run_step` (:mod:`.step`).

``python -m kale_like.runtime JOB.json`` runs one step from a job file (:mod:`.__main__`);
:mod:`.step_run` holds the phases of a step's run, :mod:`.failure` the error a failed step
raises.
"""

from .failure import StepFailed
from .step import StepOutcome, run_step

__all__ = ["StepFailed", "StepOutcome", "run_step"]
