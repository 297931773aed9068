"""The ``kfp`` engine: ``kale-like run NB --engine kfp`` uploads, runs and watches on Kubeflow.

Endpoint, namespace, experiment and credentials come from the notebook metadata, the
environment and the config file (:mod:`kale_like.kubeflow.config`), or from ``request.options``
(``host``, ``namespace``, ``experiment``, ``token_file``, ``client``, ``poll``, ``timeout``).
Metric values are not part of KFP's REST API (they live in ML Metadata): they are read from
MLMD's gRPC-web endpoint when one is named (``options["mlmd"]`` or ``$KALE_LIKE_MLMD_HOST``),
else ``metrics`` stays empty.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..kubeflow.compile import compile_pipeline
from ..kubeflow.deploy import deploy_compiled
from ..run_results import RunResult


class KfpEngine:
    """Upload the pipeline (new pipeline or version), start a run, follow it to the end."""

    name = "kfp"

    def run(self, request: Any) -> RunResult:
        opts = dict(getattr(request, "options", None) or {})
        images = opts.get("images")
        with tempfile.TemporaryDirectory(prefix="kale-like-deploy-") as tmp:
            _, yaml_path = compile_pipeline(
                request.pipeline, Path(tmp), images=dict(images) if images else None
            )
            result = deploy_compiled(
                yaml_path,
                request.pipeline,
                host=opts.get("host"),
                namespace=opts.get("namespace"),
                experiment=opts.get("experiment"),
                token_file=opts.get("token_file"),
                parameters=dict(request.parameters),
                watch=True,
                client=opts.get("client"),
                progress=request.progress,
                poll=float(opts.get("poll", 2.0)),
                timeout=opts.get("timeout"),
            )
        status = result.status if result.status in ("succeeded", "failed") else "cancelled"
        metrics: dict[str, Any] = {}
        url = opts.get("mlmd") or os.environ.get("KALE_LIKE_MLMD_HOST")
        if url and result.run_id:
            from ..kubeflow import mlmd

            metrics = dict(mlmd.run_metrics(mlmd.MlmdClient(str(url)), result.run_id))
        return RunResult(
            run_id=result.run_id or "",
            status=status,  # type: ignore[arg-type]
            metrics=metrics,
            steps=result.steps,
            parameters=dict(request.parameters),
            engine=self.name,
        )
