"""Option groups of ``sweep``: how many trials it may run, and where Katib runs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """How much a sweep may spend; None takes the notebook's ``katib_metadata`` (or Kale's
    default: 12 trials, 1 at a time, stop after 3 failures)."""

    trials: int | None = None
    parallel: int | None = None
    max_failed: int | None = None


@dataclass(frozen=True)
class KatibTarget:
    """Where and how a Katib Experiment runs its trials (``sweep(engine="katib")``).

    ``host`` is the KFP endpoint the trials submit to (in-cluster by default);
    ``token_secret`` is ``SECRET:KEY`` of a Kubernetes Secret holding a KFP token.
    """

    namespace: str | None = None
    host: str | None = None
    token_secret: str | None = None
    service_account: str | None = None
    trial_image: str | None = None
    name: str | None = None
    mlmd_host: str | None = None
