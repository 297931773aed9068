"""A metrics reader for ``kale-like trial`` tests: 01_linear's metrics from the run's params.

The contract server runs no code, so this stands in for ML Metadata: it computes what the
pipeline would report for the parameters the server received.
"""

from __future__ import annotations

from typing import Any

from sweep_kit import linear_metrics


def linear_reader(remote: Any, snapshot: Any) -> dict[str, Any]:
    params = {"n": 10, "scale": 2.5, **snapshot.parameters}
    return linear_metrics(int(params["n"]), float(params["scale"]))
