"""Write detection overhead: local runs with detection on / the same runs with it off.

    .venv/bin/python benchmarks/observe.py [--repeat N]

Each figure is a ratio measured in this run (best of N cold runs, ``use_cache=False``),
detection on over detection off (``KALE_LIKE_OBSERVE=0``); each mode runs in its own
process so the warm step-process pool starts with that environment:

- the corpus' median notebook (by size, among those that run)         (<= 1.10)
- a 400 MB numpy array made by one step and changed by the next one    (<= 1.15)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

TIMER = """
import sys, time
from kale_like.api.run import run
best = None
for i in range(int(sys.argv[2])):
    t = time.perf_counter()
    r = run(sys.argv[1], run_root=sys.argv[3], use_cache=False)
    assert r.status == "succeeded", r.failed_step and r.failed_step.error
    s = time.perf_counter() - t
    best = s if best is None else min(best, s)
print(best)
"""


def big_array_notebook(path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from nb_kit import cell, write_notebook

    return write_notebook(
        path,
        cell("import numpy as np", "imports"),
        cell("big = np.ones(50_000_000)", "step:make"),
        cell("big[0] = 2.0\ntotal = float(big[:10].sum())", "step:use"),
        cell("print(total)", "pipeline-metrics"),
    )


def median_corpus_notebook() -> Path:
    entries = json.loads((CORPUS / "manifest.json").read_text())
    ok = [e["file"] for e in entries if e.get("valid") and not e.get("expected_failure")]
    ok.sort(key=lambda f: (CORPUS / f).stat().st_size)
    return CORPUS / ok[len(ok) // 2]


def timed(nb: Path, repeat: int, observe: bool, work: Path) -> float:
    env = dict(os.environ, KALE_LIKE_OBSERVE="1" if observe else "0", PYTHONPATH=str(ROOT))
    root = work / ("on" if observe else "off")
    out = subprocess.run(
        [sys.executable, "-c", TIMER, str(nb), str(repeat), str(root)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        median = work / "median.ipynb"
        source = median_corpus_notebook()
        median.write_bytes(source.read_bytes())
        big = big_array_notebook(work / "big.ipynb")
        rows = [
            (f"median corpus notebook ({source.name})", median, 1.10),
            ("400 MB array between two steps", big, 1.15),
        ]
        for label, nb, bar in rows:
            off = timed(nb, args.repeat, False, work)
            on = timed(nb, args.repeat, True, work)
            ratio = on / off
            verdict = "ok" if ratio <= bar else "OVER"
            print(f"{label}: on {on:.3f}s / off {off:.3f}s = {ratio:.3f} (<= {bar}) {verdict}")


if __name__ == "__main__":
    main()
