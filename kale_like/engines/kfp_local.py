"""The ``kfp-local`` engine: the compiled pipeline run by KFP's own local runner.

This is the conformance check that the generated DSL really runs under KFP: the pipeline is
compiled into a temporary directory, its DSL module is imported from that file (lightweight
components need real source), and the pipeline function is called under
``kfp.local.init(runner=SubprocessRunner(use_venv=False), pipeline_root=RUN_DIR/kfp)``.
Metrics are read from each task's ``mlpipeline_metrics`` artifact (numbers only: KFP
metrics are numeric). KFP's own log goes to ``RUN_DIR/kfp.log``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import missing_extra
from ..kubeflow.compile import compile_pipeline
from ..run_results import RunResult
from .kfp_local_common import (
    call_pipeline,
    finish,
    import_pipeline,
    refuse_partial,
    start_run,
    task_seconds,
)
from .registry import RunRequest

__all__ = ["KfpLocalEngine", "task_seconds"]


class KfpLocalEngine:
    """Runs the compiled pipeline with ``kfp.local.SubprocessRunner(use_venv=False)``."""

    name = "kfp-local"

    def run(self, request: RunRequest) -> RunResult:
        refuse_partial(request)
        try:
            import kfp.local
        except ImportError as exc:
            raise missing_extra("kfp", "dev", "the kfp-local engine") from exc
        from ..codegen import kfp_arguments  # sanitized names, JSON for None defaults

        run = start_run(request, self.name)
        with tempfile.TemporaryDirectory(prefix="kale-like-kfp-") as tmp:
            dsl_path, _ = compile_pipeline(request.pipeline, Path(tmp))
            func = import_pipeline(dsl_path)
            kwargs = kfp_arguments(request.pipeline, dict(request.parameters))
            error = call_pipeline(
                run,
                func,
                kwargs,
                kfp.local.SubprocessRunner(use_venv=False),
                cwd=run.nb_path.parent if run.nb_path is not None else Path.cwd(),
            )
        return finish(run, error, failure="the step failed under kfp.local")
