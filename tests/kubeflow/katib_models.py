"""Katib's own Python models, installed apart from the project's environment.

``kubeflow-katib`` pins protobuf<5 and cannot live beside kfp 2.17, so the package is
installed with ``pip --no-deps --target`` into a cache folder and used only in a subprocess.
Its ``kubeflow.katib`` package imports grpc at import time; the subprocess registers bare
namespace modules instead, so only the generated models and ApiClient are loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

KATIB_VERSION = "0.19.0"
REQUIRE_ENV = "KALE_LIKE_REQUIRE_KATIB"

_SCRIPT = r"""
import json, sys, types
root = sys.argv[1]
for name, path in (("kubeflow", root + "/kubeflow"), ("kubeflow.katib", root + "/kubeflow/katib")):
    mod = types.ModuleType(name)
    mod.__path__ = [path]
    sys.modules[name] = mod
sys.modules["kubeflow"].katib = sys.modules["kubeflow.katib"]
import kubeflow.katib.models as models
from kubeflow.katib.api_client import ApiClient

client = ApiClient()
doc = json.load(sys.stdin)
exp = client._ApiClient__deserialize(doc, "V1beta1Experiment")
assert isinstance(exp, models.V1beta1Experiment), type(exp)
back = client.sanitize_for_serialization(exp)
s = exp.spec
print(json.dumps({
    "type": type(exp).__name__,
    "roundtrip": back,
    "objective": [s.objective.type, s.objective.objective_metric_name,
                  s.objective.additional_metric_names, s.objective.goal],
    "algorithm": s.algorithm.algorithm_name,
    "counts": [s.parallel_trial_count, s.max_trial_count, s.max_failed_trial_count],
    "collector": s.metrics_collector_spec.collector.kind,
    "parameters": [[p.name, p.parameter_type, p.feasible_space.min, p.feasible_space.max,
                    p.feasible_space.step, p.feasible_space.list, p.feasible_space.distribution]
                   for p in s.parameters],
    "primary": s.trial_template.primary_container_name,
    "trial_parameters": [[t.name, t.reference] for t in s.trial_template.trial_parameters],
    "trial_spec_kind": s.trial_template.trial_spec["kind"],
}))
"""


def _cache_dir() -> Path:
    base = os.environ.get("KALE_LIKE_KATIB_MODELS")
    if base:
        return Path(base)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "kale-like" / f"kubeflow-katib-{KATIB_VERSION}"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"Katib models required ({REQUIRE_ENV}=1) but unavailable: {reason}")
    pytest.skip(f"Katib's models are not available: {reason}")


def katib_models_dir() -> Path:
    """The folder holding ``kubeflow/katib`` (installed on first use), or skip/fail."""
    target = _cache_dir()
    if (target / "kubeflow" / "katib" / "models").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".katib-", dir=target.parent))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(tmp),
            f"kubeflow-katib=={KATIB_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        _unavailable(f"pip install kubeflow-katib=={KATIB_VERSION} failed: {proc.stderr[-400:]}")
    try:
        tmp.rename(target)  # atomic: a concurrent installer may have won the race
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def deserialize_experiment(doc: dict[str, Any]) -> dict[str, Any]:
    """Load ``doc`` into ``kubeflow.katib.V1beta1Experiment``; return what the models saw."""
    root = katib_models_dir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(root)],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if proc.returncode != 0:
        missing = "No module named" in proc.stderr
        if missing and any(m in proc.stderr for m in ("'six'", "'dateutil'", "'urllib3'")):
            _unavailable(proc.stderr.strip().splitlines()[-1])
        raise AssertionError(f"Katib's models rejected the Experiment:\n{proc.stderr}")
    return json.loads(proc.stdout)
