"""Per-step images: plan (pure) -> contexts -> docker-py build/push.

Modules: ``pipeline_images`` (a pipeline's plans, dry runs and builds), ``requirements``
(inference), ``context`` (Dockerfiles, contexts, digests), ``wheelhouse`` (pinned wheels on
the host), ``builder`` (docker-py).
"""

from .pipeline_images import (
    BuildOutcome,
    PipelinePlan,
    build_plans,
    plan_pipeline,
    write_dry_run_plans,
)

__all__ = ["BuildOutcome", "PipelinePlan", "build_plans", "plan_pipeline", "write_dry_run_plans"]
