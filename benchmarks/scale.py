"""Scale: analysis and compile time of 500- and 5,000-step notebooks (near-linear growth).

    .venv/bin/python benchmarks/scale.py [--steps 500,5000] [--repeat N] [--skip-compile]

Each notebook is built in code: an imports cell, a functions cell, a pipeline-parameters
cell and a ``load`` step, then sections of 25 steps, each a chain of analyses of the loaded
data: a step reads the value of the step before it and one more from further up its section
(fixed pseudo-random choice), sometimes a parameter or an untagged cell's worth of printing,
and writes one or two variables; every 50th step imports a module and defines a function.
(Sections, not one long chain: every step takes the workspace of each of its ancestors, so
a chain's compiled files hold a workspace input per pair of steps.)
Times (wall and CPU), best of ``--repeat`` in this process:
  * ``kale_like.api.analyze`` (the JSON contract, the IR built from the notebook file) for
    ``--steps``;
  * ``kale_like.api.compilation.compile`` into a temporary directory (DSL + KFP's YAML) for
    ``--compile-steps``, with the size of what it wrote.
The baseline is the smallest notebook measured in the same run: prints time(largest) /
time(smallest) (target <= 15x for a 10x larger notebook, i.e. near-linear) and the wall
time of analysing 5,000 steps (target <= 5 s). Exit status 1 if an analysis target is missed.

Compile is timed on smaller notebooks because its output is quadratic by design: each
step's spec lists, per name it could pass on, every later step reading that name
(runtime/spec.py ``later_readers``/``state_spec``: a prelude import read by every step puts
every later step into every step's spec), so 500 steps already write ~23 MB of DSL and
5,000 steps would write gigabytes; the compile ratio is printed beside the output's size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 15.0
ANALYZE_TARGET_5000 = 5.0
SECTION = 25  # steps per section: each section is a chain of analyses of the loaded data
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _cell(source: str, *tags: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": {"tags": list(tags)} if tags else {},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def notebook(steps: int, seed: int = 0) -> dict[str, Any]:
    """A realistic tagged notebook of ``steps`` steps (see the module docstring)."""
    rng = random.Random(seed)
    cells = [
        _cell("import math\nimport json\nimport statistics", "imports"),
        _cell(
            "def grow(x, k):\n    return round(x * k + math.sqrt(abs(x)), 3)\n\n\n"
            "def mix(a, b):\n    return statistics.fmean([a, b])",
            "functions",
        ),
        _cell("scale = 2\nrate = 0.5\nlabel = 'bench'", "pipeline-parameters"),
        _cell("data = [grow(i, rate) for i in range(100)]", "step:load"),
    ]
    for i in range(1, steps):
        start = i - (i - 1) % SECTION  # first step of this section
        if i == start:  # a new section starts from the loaded data
            body = f"v{i} = grow(data[{i % 100}], scale)"
        else:
            far = rng.randrange(start, i)  # a value from further up the section
            body = f"v{i} = mix(v{i - 1}, v{far})"
            if i % 7 == 0:
                body += f" * scale\nprint(label, v{i})"
        if i % 3 == 0:
            body += f"\nextra{i} = [v{i}] * 3"  # a second output, read just below
        if i % 3 == 1 and i > start:
            body += f"\nn{i} = len(extra{i - 1})"
        if i % 50 == 25:
            body = f"import random\n\ndef local{i}(x):\n    return x + random.random()\n\n" + body
            body += f"\nv{i} = local{i}(v{i})"
        cells.append(_cell(body, f"step:s{i}"))
        if i % 10 == 5:
            cells.append(_cell(f"print(json.dumps({{'v': v{i}}}))"))  # joins the step above
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNEL,
            "kubeflow_notebook": {"pipeline_name": f"scale-{steps}", "experiment_name": "bench"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` calls (CPU time does not grow when
    other work shares the machine's cores)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="500,5000", help="comma-separated step counts")
    parser.add_argument(
        "--compile-steps", default="50,500", help="step counts to compile (see the docstring)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (best)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.steps.split(","))
    compile_sizes = sorted(int(s) for s in args.compile_steps.split(",") if s)

    from kale_like.api import analyze
    from kale_like.api.compilation import compile as compile_nb

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"

        def write(n: int) -> Path:
            path = Path(tmp) / f"scale{n}.ipynb"
            path.write_text(json.dumps(notebook(n)), encoding="utf-8")
            return path

        analysed: list[tuple[int, float, float]] = []
        for n in sizes:
            path = write(n)
            assert len(analyze(path, run_root=runs)["steps"]) == n
            wall, cpu = best_of(partial(analyze, path, run_root=runs), args.repeat)
            analysed.append((n, wall, cpu))
            print(f"analyze {n:6d} steps: {wall:7.3f} s wall  {cpu:7.3f} s cpu", flush=True)
        ok &= _verdict("analyze", analysed)
        if analysed and analysed[-1][0] == 5000:
            wall = analysed[-1][1]
            good = wall <= ANALYZE_TARGET_5000
            ok &= good
            print(f"analyze of 5,000 steps: {wall:.2f} s wall (target <= {ANALYZE_TARGET_5000} s)"
                  f" {'ok' if good else 'OVER'}")  # fmt: skip

        compiled: list[tuple[int, float, float]] = []
        for n in compile_sizes:
            path, out = write(n), Path(tmp) / f"out{n}"
            wall, cpu = best_of(partial(compile_nb, path, out, run_root=runs), args.repeat)
            size = sum(f.stat().st_size for f in out.iterdir())
            compiled.append((n, wall, cpu))
            print(f"compile {n:6d} steps: {wall:7.3f} s wall  {cpu:7.3f} s cpu"
                  f"  output {size / 1e6:7.1f} MB", flush=True)  # fmt: skip
        if compiled:
            _verdict("compile", compiled)  # reported; the output itself grows quadratically
    return 0 if ok else 1


def _verdict(label: str, rows: list[tuple[int, float, float]]) -> bool:
    """Print time(largest) / time(smallest), wall and CPU; True if CPU is within target."""
    if len(rows) < 2:
        return True
    (small, w0, c0), (big, w1, c1) = rows[0], rows[-1]
    ratio = c1 / c0
    verdict = "ok" if ratio <= RATIO_TARGET else "OVER"
    print(f"{label} {big}/{small} steps ({big / small:.0f}x larger): {w1 / w0:.1f}x wall,"
          f" {ratio:.1f}x cpu (target <= {RATIO_TARGET}x) {verdict}")  # fmt: skip
    return ratio <= RATIO_TARGET


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
