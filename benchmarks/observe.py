"""Write detection overhead: local runs with detection on / the same runs with it off.

    .venv/bin/python benchmarks/observe.py [--repeat N]

Each mode runs in its own long-lived process (the warm step-process pool starts with that
environment: ``KALE_LIKE_OBSERVE=1`` or ``0``), both driven from here: one warm-up run per
notebook and mode (not counted), then N rounds alternating which mode goes first (ABBA), each
run ``use_cache=False`` after a ``sync`` so neither mode pays for the other's dirty pages.
A ratio is the median of the on runs over the median of the off runs of this invocation;
each round's own ratio is printed too.

- the corpus' median notebook (by size, among those that run)              (<= 1.10)
- a 400 MB numpy array made by one step and changed by the next one        (<= 1.15)
  (the change is declared: nothing to prove)
- a 400 MB numpy array made by one step and only read by the next one      (<= 1.15)
  (detection must prove the reader left it unchanged: digested before and after)

and, with detection on, a fan-out of eight readers of one list (each waits 2 s, as for
I/O; ``jobs=8``): the span of the eight branches over one branch run alone (<= 1.5): the
readers run in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

# One mode's timer: reads {"nb", "jobs"} lines, runs each notebook, replies with timings.
TIMER = """
import json, os, sys, time
from kale_like.api.execution import run
for line in sys.stdin:
    req = json.loads(line)
    os.sync()
    t = time.perf_counter()
    r = run(req["nb"], run_root=sys.argv[1], use_cache=False, jobs=req["jobs"])
    s = time.perf_counter() - t
    assert r.status == "succeeded", r.failed_step and r.failed_step.error
    steps = json.loads((__import__("pathlib").Path(r.run_dir) / "run.json").read_text())["steps"]
    span = {k: [v["started"], v["finished"]] for k, v in steps.items()}
    print(json.dumps({"seconds": s, "steps": span}), flush=True)
"""


class Mode:
    """A timer process with detection on or off."""

    def __init__(self, observe: bool, work: Path) -> None:
        env = dict(os.environ, KALE_LIKE_OBSERVE="1" if observe else "0", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TIMER, str(work / ("on" if observe else "off"))],
            env=env,
            cwd=work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, nb: Path, jobs: int = 2) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"nb": str(nb), "jobs": jobs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the timer process failed on {nb.name}")
        out: dict[str, Any] = json.loads(line)
        return out

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=120)


def _notebook(path: Path, *cells: tuple[str, str]) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from nb_kit import cell, write_notebook

    return write_notebook(path, *(cell(src, tag) for src, tag in cells))


def big_array_notebook(path: Path, *, change: bool) -> Path:
    use = "big[0] = 2.0\n" if change else ""
    return _notebook(
        path,
        ("import numpy as np", "imports"),
        ("big = np.ones(50_000_000)", "step:make"),
        (use + "total = float(big[:10].sum())", "step:use"),
        ("print(total)", "pipeline-metrics"),
    )


def fan_out_notebook(path: Path, readers: int) -> Path:
    cells = [("import time", "imports"), ("xs = list(range(200_000))", "step:make")]
    for i in range(readers):
        cells.append((f"time.sleep(2)\nr{i} = xs[{i}] + len(xs)", f"step:read{i}"))
    total = " + ".join(f"r{i}" for i in range(readers))
    cells.append((f"total = {total}", "step:join"))
    cells.append(("print(total)", "pipeline-metrics"))
    return _notebook(path, *cells)


def median_corpus_notebook() -> Path:
    entries = json.loads((CORPUS / "manifest.json").read_text())
    ok = [e["file"] for e in entries if e.get("valid") and not e.get("expected_failure")]
    ok.sort(key=lambda f: (CORPUS / f).stat().st_size)
    return CORPUS / ok[len(ok) // 2]


def overhead(label: str, nb: Path, bar: float, on: Mode, off: Mode, repeat: int) -> None:
    """Median on / median off, ABBA order, one warm-up run per mode first."""
    off.run(nb)
    on.run(nb)
    ons: list[float] = []
    offs: list[float] = []
    for i in range(repeat):
        pair = (on, off) if i % 2 else (off, on)
        times = {id(m): m.run(nb)["seconds"] for m in pair}
        ons.append(times[id(on)])
        offs.append(times[id(off)])
    ratio = statistics.median(ons) / statistics.median(offs)
    rounds = " ".join(f"{a / b:.2f}" for a, b in zip(ons, offs, strict=True))
    verdict = "ok" if ratio <= bar else "OVER"
    print(
        f"{label}: on {statistics.median(ons):.3f}s / off {statistics.median(offs):.3f}s "
        f"= {ratio:.3f} (<= {bar}) {verdict}; rounds {rounds}",
        flush=True,
    )


def fan_out(work: Path, on: Mode, repeat: int, bar: float = 1.5) -> None:
    """Span of eight parallel readers over one reader alone, both with detection on."""
    eight = fan_out_notebook(work / "fan8.ipynb", 8)
    one = fan_out_notebook(work / "fan1.ipynb", 1)
    on.run(one, jobs=8)  # warm-up
    spans: list[float] = []
    branches: list[float] = []
    for _ in range(repeat):
        steps = on.run(one, jobs=8)["steps"]
        branches.append(steps["read0"][1] - steps["read0"][0])
        steps = on.run(eight, jobs=8)["steps"]
        reads = [v for k, v in steps.items() if k.startswith("read")]
        spans.append(max(f for _, f in reads) - min(s for s, _ in reads))
    ratio = statistics.median(spans) / statistics.median(branches)
    verdict = "ok" if ratio <= bar else "OVER"
    print(
        f"fan-out of eight list readers (detection on, jobs=8): span "
        f"{statistics.median(spans):.3f}s / one branch {statistics.median(branches):.3f}s "
        f"= {ratio:.3f} (<= {bar}) {verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="rounds per figure (>= 3)")
    args = parser.parse_args()
    repeat = max(3, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        median = work / "median.ipynb"
        source = median_corpus_notebook()
        median.write_bytes(source.read_bytes())
        rows = [
            (f"median corpus notebook ({source.name})", median, 1.10),
            (
                "400 MB array changed by the next step",
                big_array_notebook(work / "big_change.ipynb", change=True),
                1.15,
            ),
            (
                "400 MB array read by the next step",
                big_array_notebook(work / "big_read.ipynb", change=False),
                1.15,
            ),
        ]
        on, off = Mode(True, work), Mode(False, work)
        try:
            for label, nb, bar in rows:
                overhead(label, nb, bar, on, off, repeat)
            fan_out(work, on, repeat)
        finally:
            on.close()
            off.close()


if __name__ == "__main__":
    main()
