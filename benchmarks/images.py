"""Benchmark of per-step images (needs the engine of ``scripts/docker-up.sh``).

    .venv/bin/python benchmarks/images.py [--base-image kale-like/base:py3.11]

Measures, on a 5-step notebook written here (numpy, pandas, scikit-learn, a local helper):
1. cold build of every image (no layer cache);
2. rebuild after a code-only change: a step's cell edited (nothing to rebuild: the code
   travels in the compiled pipeline) and a helper module edited (only its layer rebuilds;
   target <= 2 s per changed step and 0 dependency layers rebuilt);
3. image size vs the base image;
4. step start-up in its image vs the same step on the base image pip-installing its pinned
   packages from the wheelhouse when it starts (the reference converter's approach, made
   offline), printed as a ratio.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat

print = functools.partial(print, flush=True)  # noqa: A001 - progress as it happens

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kale_like import images  # noqa: E402
from kale_like.api.analysis import load_pipeline  # noqa: E402
from kale_like.images import pipeline_images  # noqa: E402
from kale_like.images.context import SRC_DIR  # noqa: E402
from kale_like.images.environment import PythonEnvironment, closure  # noqa: E402
from kale_like.images.requirements import runtime_requirements  # noqa: E402
from kale_like.images.wheelhouse import ensure_wheels  # noqa: E402

CELLS = [
    (["step:load"], "import numpy as np\nraw = np.arange(200, dtype=float).reshape(50, 4)"),
    (
        ["step:features"],
        "import pandas as pd\nfrom helpers import scale\n"
        "df = pd.DataFrame(scale(raw), columns=list('abcd'))",
    ),  # fmt: skip
    (
        ["step:train"],
        "from sklearn.linear_model import LinearRegression\n"
        "model = LinearRegression().fit(df[['a', 'b', 'c']], df['d'])",
    ),  # fmt: skip
    (
        ["step:evaluate"],
        "from sklearn.metrics import r2_score\n"
        "score = r2_score(df['d'], model.predict(df[['a', 'b', 'c']]))",
    ),  # fmt: skip
    (["step:report"], "import json\nsummary = json.dumps({'score': round(score, 4)})"),
    (["pipeline-metrics"], "print(score)"),
]


def write_notebook(folder: Path, token: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpers.py").write_text(
        f"TOKEN = {token!r}\n\ndef scale(a):\n    return a / a.max()\n", encoding="utf-8"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": t}) for t, src in CELLS]
    path = folder / "five_steps.ipynb"
    nbformat.write(nb, str(path))
    return path


def build(nb: Path, base: str, wheelhouse: Path, client: Any, nocache: bool = False) -> Any:
    plan = images.plan_pipeline(load_pipeline(nb), base_image=base)
    t0 = time.perf_counter()
    out = images.build_plans(plan, client=client, wheelhouse=wheelhouse, nocache=nocache)
    return plan, out, time.perf_counter() - t0


def fresh_base(client: Any, base: str) -> str:
    """``base`` under a new image id: the same filesystem, an empty layer cache above it."""
    import io

    tag = f"kale-like/bench-base:{uuid.uuid4().hex[:12]}"
    dockerfile = f"FROM {base}\nLABEL kale-like.benchmark={tag.rsplit(':', 1)[1]}\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, network_mode="none")
    return tag


def run_container(client: Any, image: str, command: list[str], **kw: Any) -> float:
    t0 = time.perf_counter()
    client.containers.run(image, command, network_mode="none", remove=True, **kw)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-image", default="kale-like/base:py3.11")
    ap.add_argument("--wheelhouse", default=str(ROOT / ".cache" / "wheelhouse"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from kale_like.images.builder import connect

    client = connect()
    wheelhouse = Path(args.wheelhouse)
    with tempfile.TemporaryDirectory(prefix="kale-like-bench-") as tmp:
        # Build from a snapshot of the runtime source so edits to the checkout while the
        # benchmark runs cannot change the images under it.
        snapshot = Path(tmp) / "src" / "kale_like"
        shutil.copytree(
            pipeline_images.PACKAGE_DIR,
            snapshot,
            ignore=shutil.ignore_patterns("__pycache__", "labextension", "static"),
        )
        pipeline_images.PACKAGE_DIR = snapshot  # what plan_pipeline and build_plans read
        folder = Path(tmp) / "nb"
        nb = write_notebook(folder, uuid.uuid4().hex)

        # 1. cold build (wheels fetched once beforehand: network time is not build time). A
        # fresh base image id (the base plus a label) has no layer cache on top of it, while
        # the images of the notebook still share layers among themselves, as in a real first
        # build (nocache=True would rebuild the shared layers once per image).
        base = fresh_base(client, args.base_image)
        plan = images.plan_pipeline(load_pipeline(nb), base_image=base)
        pins = {pin for p in plan.plans for layer in p.layers for pin in layer.pins}
        ensure_wheels(wheelhouse, pins)
        _, cold, cold_s = build(nb, base, wheelhouse, client)
        n_images = len(cold.built)
        print(f"cold build: {len(plan.pipeline.steps)} steps -> {n_images} images in {cold_s:.1f}s")

        # 2a. step code edited: nothing to rebuild
        text = nb.read_text(encoding="utf-8").replace("round(score, 4)", "round(score, 3)")
        nb.write_text(text, encoding="utf-8")
        _, same, same_s = build(nb, base, wheelhouse, client)
        print(f"step cell edited: {len(same.built)} images rebuilt in {same_s:.2f}s")

        # 2b. helper module edited: only the images copying it, only their last layer
        helper = folder / "helpers.py"
        helper.write_text(helper.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        _, code, code_s = build(nb, base, wheelhouse, client)
        # dependency layers = the COPY of wheels and the pip install of each layer
        dep_layers = sum(
            1
            for log in code.logs.values()
            for s in log.rebuilt
            if "/wheels/" in s or "wheels/" in s
        )
        changed = [s for p in plan.plans for s in p.steps if p.local_files]
        per_step = code_s / max(1, len(changed))
        print(
            f"helper edited: {len(code.built)} image(s) rebuilt for steps {changed} in "
            f"{code_s:.2f}s ({per_step:.2f}s per changed step; target <= 2s); "
            f"dependency layers rebuilt: {dep_layers} (target 0)"
        )

        # 3. sizes
        base_size = client.images.get(args.base_image).attrs["Size"]
        sizes = {ref: client.images.get(ref).attrs["Size"] for ref in set(code.images.values())}
        for ref, size in sorted(sizes.items()):
            print(
                f"image {ref.split('/')[-1]}: {size / 1e6:.0f} MB "
                f"({size / base_size:.2f}x base {base_size / 1e6:.0f} MB)"
            )

        # 4. start-up of the train step: baked image vs pip install at start
        pipeline = load_pipeline(nb)
        train_ref = code.images["train"]
        env = PythonEnvironment.current()
        [train_plan] = [p for p in plan.plans if "train" in p.steps]
        reqs = list(train_plan.requirements) + list(runtime_requirements(env))
        all_pins = sorted(f"{n}=={v}" for n, v in closure(reqs, env).values())
        probe = "import sklearn.linear_model, pandas, kale_like.runtime"
        baked = [run_container(client, train_ref, ["python3", "-c", probe])
                 for _ in range(args.repeat)]  # fmt: skip
        src = snapshot
        install = (
            "python3 -m pip install -q --no-index --ignore-requires-python "
            "--disable-pip-version-check --find-links /wheels " + " ".join(all_pins)
        )
        volumes = {
            str(wheelhouse.resolve()): {"bind": "/wheels", "mode": "ro"},
            str(src): {"bind": f"{SRC_DIR}/kale_like", "mode": "ro"},
        }
        command = ["sh", "-c", f"{install} && python3 -c '{probe}'"]
        pip_start = [
            run_container(client, args.base_image, command, volumes=volumes,
                          environment={"PYTHONPATH": SRC_DIR})
            for _ in range(max(1, args.repeat - 1))
        ]  # fmt: skip
        b, p = statistics.median(baked), statistics.median(pip_start)
        print(
            f"step start-up ({len(all_pins)} pinned distributions): baked image {b:.2f}s, "
            f"pip install at start {p:.2f}s -> {p / b:.1f}x faster baked"
        )
        del pipeline
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
