"""``kale-like suggest`` on a 200-cell notebook: how long the proposal (checks included) takes.

    .venv/bin/python benchmarks/suggest.py [--cells N] [--repeat N]

The notebook is Kaggle-shaped: imports, a parameters cell, helper functions, then sections
(a markdown heading each) that load, clean and derive features, with four independent
model branches and a comparison. Prints the best of N wall times of ``api.suggest`` and the
ratio to ``api.analyze.load_pipeline`` of the *tagged* result (the analysis a hand-tagged
notebook gets; the suggestion runs it at least twice). Bar: <= 2 s for 200 cells.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def code(src: str) -> dict:
    return {
        "cell_type": "code",
        "metadata": {},
        "source": src,
        "outputs": [],
        "execution_count": None,
    }


def md(src: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": src}


def notebook(n_cells: int) -> dict:
    cells = [
        code("import numpy as np\nimport pandas as pd"),
        code("SEED = 0\nN = 500"),
        code("def scale(a):\n    return (a - a.mean()) / (a.std() + 1e-9)"),
        md("## Load"),
        code("rng = np.random.default_rng(SEED)\nraw = pd.DataFrame(rng.normal(size=(N, 8)))"),
    ]
    branches = 4
    k = 0
    while len(cells) < n_cells - 2 * branches - 2:
        k += 1
        if k % 10 == 0:
            cells.append(md(f"## Section {k // 10}"))
        cells.append(
            code(f"raw[{k % 8}] = scale(raw[{k % 8}]) + {k}\nstat_{k} = float(raw[{k % 8}].mean())")
        )
        if k % 3 == 0:
            cells.append(code(f"raw.describe()\nprint(stat_{k})"))
    for b in range(branches):
        cells.append(md(f"## Model {b}"))
        cells.append(
            code(
                f"w_{b} = np.linalg.lstsq(raw.values, raw[{b}].values, rcond=None)[0]\n"
                f"score_{b} = float(np.abs(w_{b}).sum())"
            )
        )
    cells.append(code("scores = [" + ", ".join(f"score_{b}" for b in range(branches)) + "]"))
    return {
        "cells": cells[:n_cells],
        "metadata": {"kernelspec": KERNEL},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from kale_like.api.analysis import load_pipeline
    from kale_like.api.suggestions import suggest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.ipynb"
        path.write_text(json.dumps(notebook(args.cells)), encoding="utf-8")
        out = Path(tmp) / "tagged.ipynb"
        best = best_analyze = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = suggest(path, write=out, run_root=Path(tmp) / "runs")
            best = min(best, time.perf_counter() - t)
            t = time.perf_counter()
            load_pipeline(out, run_root=Path(tmp) / "runs")
            best_analyze = min(best_analyze, time.perf_counter() - t)
        print(f"cells: {args.cells}  steps: {len(result.pipeline.steps)}  width: {result.width}")
        print(
            f"suggest: {best:.3f} s (bar <= 2 s)  analyze of the tagged result: "
            f"{best_analyze:.3f} s  ratio {best / best_analyze:.1f}"
        )


if __name__ == "__main__":
    main()
