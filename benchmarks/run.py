"""Run benchmarks: the local engine against papermill and against itself, and kfp-local.

    .venv/bin/python benchmarks/run.py [--repeat N]

Every figure is a ratio against a baseline measured in the same process run (best of N):

- linear notebook, local engine cold run / one papermill run of the whole notebook (<= 1.3)
- diamond with two independent 2 s branches, local / papermill top to bottom (<= 0.7)
- re-run with nothing changed / cold run (<= 0.1)
- re-run after editing only the last step / cold run (<= 0.35)
- per-step overhead of a 20-trivial-step chain, seconds per step (<= 0.5)
- a 4-trivial-step pipeline under KFP's local runner through ``--engine kfp-local``, against
  the 30 s quoted in issue 3 for the reference converter (30-49 s), and against our own
  local engine on the same notebook
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbformat import v4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUOTED_KFP_LOCAL_SECONDS = 30.0  # issue 3: reference converter, 4 trivial steps, 30-49 s


def notebook(path: Path, cells: list[tuple[list[str], str]]) -> Path:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [v4.new_code_cell(src, metadata={"tags": tags}) for tags, src in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


WORK = "sum(i * i for i in range(300_000))"


def linear_cells(last: str = "result = total // 7") -> list[tuple[list[str], str]]:
    return [
        (["imports"], "import math"),
        (["pipeline-parameters"], "n = 200"),
        (["step:load"], f"data = list(range(n))\n_w = {WORK}"),
        (["step:transform", "prev:load"], f"scaled = [x * 2 for x in data]\n_w = {WORK}"),
        (["step:aggregate", "prev:transform"], f"total = sum(scaled)\n_w = {WORK}"),
        (["step:report", "prev:aggregate"], last),
        (["pipeline-metrics"], "print(result)"),
    ]


def diamond_cells() -> list[tuple[list[str], str]]:
    return [
        (["imports"], "import time"),
        (["step:source"], "values = list(range(10))"),
        (["step:left", "prev:source"], "time.sleep(2)\nleft = sum(values)"),
        (["step:right", "prev:source"], "time.sleep(2)\nright = max(values)"),
        (["step:join", "prev:left", "prev:right"], "combined = left + right"),
        (["pipeline-metrics"], "print(combined)"),
    ]


def chain_cells(n: int) -> list[tuple[list[str], str]]:
    cells: list[tuple[list[str], str]] = [(["step:s00"], "x = 0")]
    for i in range(1, n):
        cells.append(([f"step:s{i:02d}", f"prev:s{i - 1:02d}"], "x = x + 1"))
    cells.append((["pipeline-metrics"], "print(x)"))
    return cells


def best(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    import papermill

    from kale_like.api.execution import run

    tmp = Path(tempfile.mkdtemp(prefix="kale-like-bench-"))
    counter = iter(range(10_000))

    def cold(nb: Path, **kw: Any) -> Any:
        result = run(nb, run_root=tmp / f"root-{next(counter)}", **kw)
        assert result.status == "succeeded", result.to_json()
        return result

    def top_to_bottom(nb: Path) -> None:
        papermill.execute_notebook(
            str(nb),
            str(tmp / f"out-{next(counter)}.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(nb.parent),
        )

    # Warm up imports on both sides so neither pays one-off costs in the timings.
    warm = notebook(tmp / "warm" / "warm.ipynb", linear_cells())
    cold(warm)
    top_to_bottom(warm)

    figures: dict[str, Any] = {}
    linear = notebook(tmp / "linear" / "linear.ipynb", linear_cells())
    t_pm = best(args.repeat, lambda: top_to_bottom(linear))
    t_local = best(args.repeat, lambda: cold(linear))
    figures["linear"] = {
        "papermill_s": t_pm,
        "local_s": t_local,
        "ratio": t_local / t_pm,
        "target": "<= 1.3",
    }

    diamond = notebook(tmp / "diamond" / "diamond.ipynb", diamond_cells())
    t_pm_d = best(1, lambda: top_to_bottom(diamond))
    t_local_d = best(1, lambda: cold(diamond, jobs=2))
    figures["diamond"] = {
        "papermill_s": t_pm_d,
        "local_s": t_local_d,
        "ratio": t_local_d / t_pm_d,
        "target": "<= 0.7",
    }

    # Cold runs use fresh run roots; the re-runs share one that was filled once.
    shared = tmp / "shared-root"
    cache_nb = notebook(tmp / "cache" / "cache.ipynb", linear_cells())
    t_cold = best(args.repeat, lambda: cold(cache_nb))
    run(cache_nb, run_root=shared)
    t_rerun = best(args.repeat, lambda: run(cache_nb, run_root=shared))
    edits = iter(range(2, 1000))  # 7 is the original divisor

    def edit_last_and_run() -> None:
        notebook(cache_nb, linear_cells(last=f"result = total // {6 + next(edits)}"))
        t = time.perf_counter()
        res = run(cache_nb, run_root=shared)
        timings.append(time.perf_counter() - t)
        assert [s.status for s in res.steps.values()][-1] == "succeeded"

    timings: list[float] = []
    for _ in range(args.repeat):
        edit_last_and_run()
    t_edit = min(timings)
    figures["rerun_unchanged"] = {
        "cold_s": t_cold,
        "rerun_s": t_rerun,
        "ratio": t_rerun / t_cold,
        "target": "<= 0.1",
    }
    figures["rerun_edit_last"] = {
        "cold_s": t_cold,
        "rerun_s": t_edit,
        "ratio": t_edit / t_cold,
        "target": "<= 0.35",
    }

    chain = notebook(tmp / "chain" / "chain.ipynb", chain_cells(20))
    t_chain = best(1, lambda: cold(chain))
    figures["per_step_overhead"] = {
        "steps": 20,
        "local_s": t_chain,
        "seconds_per_step": t_chain / 20,
        "target": "<= 0.5",
    }

    four = notebook(tmp / "four" / "four.ipynb", chain_cells(4))
    t_four_local = best(args.repeat, lambda: cold(four))
    t_four_kfp = best(args.repeat, lambda: cold(four, engine="kfp-local"))
    figures["kfp_local_4_steps"] = {
        "kfp_local_s": t_four_kfp,
        "local_s": t_four_local,
        "quoted_reference_s": QUOTED_KFP_LOCAL_SECONDS,
        "speedup_vs_quoted": QUOTED_KFP_LOCAL_SECONDS / t_four_kfp,
        "kfp_local_vs_local": t_four_kfp / t_four_local,
        "target": ">= 10x faster than the quoted figure",
    }

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    f = figures
    print(
        f"linear notebook: local {f['linear']['local_s']:.2f}s vs papermill "
        f"{f['linear']['papermill_s']:.2f}s -> {f['linear']['ratio']:.2f}x (target <= 1.3)"
    )
    print(
        f"diamond, two 2 s branches: local {f['diamond']['local_s']:.2f}s vs papermill "
        f"{f['diamond']['papermill_s']:.2f}s -> {f['diamond']['ratio']:.2f}x (target <= 0.7)"
    )
    r, e = f["rerun_unchanged"], f["rerun_edit_last"]
    print(
        f"re-run, nothing changed: {r['rerun_s']:.3f}s vs cold {r['cold_s']:.2f}s -> "
        f"{r['ratio']:.3f}x (target <= 0.1)"
    )
    print(
        f"re-run, last step edited: {e['rerun_s']:.2f}s vs cold {e['cold_s']:.2f}s -> "
        f"{e['ratio']:.2f}x (target <= 0.35)"
    )
    p = f["per_step_overhead"]
    print(
        f"20 trivial steps: {p['local_s']:.2f}s -> {p['seconds_per_step']:.3f} s/step "
        "(target <= 0.5)"
    )
    k = f["kfp_local_4_steps"]
    print(
        f"4 trivial steps under kfp.local (--engine kfp-local): {k['kfp_local_s']:.2f}s; "
        f"issue 3 quotes 30-49 s for the reference converter: {k['speedup_vs_quoted']:.1f}x "
        f"faster than 30 s (target >= 10x); our local engine on the same notebook: "
        f"{k['local_s']:.2f}s (kfp-local takes {k['kfp_local_vs_local']:.1f}x as long)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
