"""Sweep benchmark: a local sweep sharing upstream work vs independent runs without cache.

    .venv/bin/python benchmarks/sweep.py [--trials 16] [--parallel 1] [--prep 1.6] [--train 0.4]

Generates a notebook whose data preparation is ~80% of a run (a ``prep`` step sleeping
``--prep`` seconds, a ``train`` step sleeping ``--train`` seconds and reading the swept
parameter ``lr``), then times, in this process:

- baseline: ``--trials`` independent ``api.run.run`` calls with ``use_cache=False`` (what a
  loop of plain runs pays: preparation in every run);
- sweep: one ``api.sweep.sweep`` over the same ``--trials`` grid points (serial unless
  ``--parallel``), in a fresh run root: ``prep`` reads no swept parameter, so it runs once.

Prints both times and sweep/baseline (target <= 0.35), and checks both found the same best.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat import v4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 0.35


def write_notebook(path: Path, prep: float, train: float) -> Path:
    def cell(source: str, *tags: str) -> nbformat.NotebookNode:
        c = v4.new_code_cell(source)
        c.metadata["tags"] = list(tags)
        return c

    nb = v4.new_notebook(
        cells=[
            cell("import math\nimport time", "imports"),
            cell("lr = 0.1", "pipeline-parameters"),
            cell(
                f"time.sleep({prep!r})  # stands for loading and cleaning the data\n"
                "data = [math.sin(i / 10) for i in range(2000)]",
                "step:prep",
            ),
            cell(
                f"time.sleep({train!r})  # stands for fitting\n"
                "loss = round(sum((0.4 + x / 10 - lr) ** 2 for x in data) / len(data), 6)",
                "step:train",
                "prev:prep",
            ),
            cell("print(loss)", "pipeline-metrics"),
        ],
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "kubeflow_notebook": {"pipeline_name": "sweep-bench"},
        },
    )
    nbformat.write(nb, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--prep", type=float, default=1.6)
    ap.add_argument("--train", type=float, default=0.4)
    args = ap.parse_args(argv)

    from kale_like.api.execution import run
    from kale_like.api.sweeps import Budget, sweep

    values = [round(0.05 * (i + 1), 2) for i in range(args.trials)]
    with tempfile.TemporaryDirectory(prefix="kale-like-bench-sweep-") as tmp:
        work = Path(tmp)
        nb = write_notebook(work / "bench.ipynb", args.prep, args.train)
        # Warm imports and the kernel-free step runtime once, outside both timings.
        run(nb, parameters={"lr": 9.0}, run_root=work / "warm", use_cache=False)

        t0 = time.perf_counter()
        losses = {}
        for lr in values:
            res = run(nb, parameters={"lr": lr}, run_root=work / "baseline", use_cache=False)
            if res.status != "succeeded":
                print(f"baseline run failed for lr={lr}", file=sys.stderr)
                return 1
            losses[lr] = res.metrics["loss"]
        baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = sweep(
            nb,
            params={"lr": "choice:" + ",".join(str(v) for v in values)},
            objective="loss",
            maximize=False,
            algorithm="grid",
            budget=Budget(parallel=args.parallel),
            run_root=work / "sweep",
        )
        swept = time.perf_counter() - t0

    best_plain = min(values, key=lambda v: losses[v])
    best = result.best
    ok = best is not None and best.parameters["lr"] == best_plain and result.status == "completed"
    ratio = swept / baseline
    print(
        f"notebook: prep {args.prep:.2f} s + train {args.train:.2f} s per run, "
        f"{args.trials} trials, sweep --parallel {args.parallel}"
    )
    print(f"baseline  {args.trials} independent runs, no cache: {baseline:7.2f} s")
    print(f"sweep     {args.trials} trials, shared cache:       {swept:7.2f} s")
    print(
        f"ratio     sweep / baseline = {ratio:.3f}  (target <= {TARGET})"
        f"  {'OK' if ratio <= TARGET else 'MISSED'}"
    )
    print(
        f"best lr   sweep {best.parameters['lr'] if best else None} / loop {best_plain}"
        f"  {'same' if ok else 'DIFFERENT'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
