"""Recorded reads (runtime/reads.py): what recording costs, and what checking them costs.

    .venv/bin/python benchmarks/cache_reads.py [--repeat N] [--files N] [--rounds N]

Each figure is a ratio measured in this run (best of N runs; for the first, of N runs in
each of ``--rounds`` processes per mode, the modes alternating so that a change in the
machine's load hits both):

- recording on / off (``KALE_LIKE_RECORD_READS=0``) for cold local runs
  (``use_cache=False``) of the corpus' median notebook (by size, among those that run);
  each mode runs in its own process so the warm step-process pool starts with that
  environment                                                                  (<= 1.05)
- the same, as CPU time of the notebook's steps forked from one warm process (as the
  local engine's step starter does), modes alternating step by step: steadier than wall
  time on a loaded machine                                                    (<= 1.05)
- a cached re-run / its cold run, for a notebook whose steps read 1,000 files (listed by
  ``glob`` and opened one by one); the re-run checks every recorded file and folder
                                                                               (<= 0.10)
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

COLD = """
import sys, time
from kale_like.api.execution import run
best = None
for i in range(int(sys.argv[2])):
    t = time.perf_counter()
    r = run(sys.argv[1], run_root=sys.argv[3], use_cache=False)
    assert r.status == "succeeded", r.failed_step and r.failed_step.error
    s = time.perf_counter() - t
    best = s if best is None else min(best, s)
print(best)
"""

COLD_THEN_CACHED = """
import json, sys, time
from kale_like.api.execution import run
cold = cached = None
for i in range(int(sys.argv[2])):
    root = f"{sys.argv[3]}/{i}"
    t = time.perf_counter()
    r = run(sys.argv[1], run_root=root)
    c = time.perf_counter() - t
    assert r.status == "succeeded", r.failed_step and r.failed_step.error
    t = time.perf_counter()
    r = run(sys.argv[1], run_root=root)
    w = time.perf_counter() - t
    assert {s.status for s in r.steps.values()} == {"cached"}, r.steps
    cold = c if cold is None else min(cold, c)
    cached = w if cached is None else min(cached, w)
print(json.dumps([cold, cached]))
"""


STEP_CPU = """
import json, os, sys, tempfile, time
from pathlib import Path
from kale_like.api.execution import prepare
from kale_like.engines.local.zygote import _warm
from kale_like.runtime import run_step
from kale_like.runtime import workspace as ws
from kale_like.runtime.spec import step_spec

_warm()
pipeline = prepare(sys.argv[1])
base = Path(sys.argv[1]).resolve().parent
root = Path(tempfile.mkdtemp(dir=sys.argv[3]))
(root / ".kale_like_run_root").touch()
cpu = {"0": 0.0, "1": 0.0}
for i in range(int(sys.argv[2])):
    for mode in "01":
        for step in pipeline.steps:
            if step.inputs or step.state_inputs:
                continue  # no upstream results here: only the steps that need none
            work = root / f"{i}-{mode}-{step.name}"
            ws.mirror(base, work)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.environ["KALE_LIKE_RECORD_READS"] = mode
                os.chdir(work)
                t = time.process_time()
                run_step(step_spec(pipeline, step), inputs={}, state_inputs={},
                         outputs={v: str(work / "o" / v) for v in step.outputs},
                         state_output=None, parameters={}, workspace_output=str(work / "ws"))
                os.write(w, str(time.process_time() - t).encode())
                os._exit(0)
            os.close(w)
            spent = float(os.read(r, 100))
            os.waitpid(pid, 0)
            cpu[mode] += spent
print(json.dumps(cpu))
"""


def median_corpus_notebook() -> Path:
    entries = json.loads((CORPUS / "manifest.json").read_text())
    ok = [e["file"] for e in entries if e.get("valid") and not e.get("expected_failure")]
    ok.sort(key=lambda f: (CORPUS / f).stat().st_size)
    return CORPUS / ok[len(ok) // 2]


def many_files_notebook(folder: Path, count: int) -> Path:
    """Two steps each read ``count`` small files of ``data/``; a third combines them."""
    sys.path.insert(0, str(ROOT / "tests"))
    from nb_kit import cell, write_notebook

    (folder / "data").mkdir(parents=True)
    for i in range(count):
        (folder / "data" / f"f{i:05d}.txt").write_text(f"{i}\n" * 20)
    read = "sum(int(open(p).readline()) for p in sorted(glob.glob('data/*.txt')))"
    return write_notebook(
        folder / "many.ipynb",
        cell("import glob", "imports"),
        cell(f"a = {read}", "step:first"),
        cell(f"b = {read} + 1", "step:second"),
        cell("total = a + b", "step:combine"),
        cell("print(total)", "pipeline-metrics"),
    )


def _python(code: str, args: list[str], work: Path, record: bool) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), KALE_LIKE_RECORD_READS="1" if record else "0")
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="processes per mode, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = median_corpus_notebook()
        median = work / "median" / source.name
        median.parent.mkdir()
        median.write_bytes(source.read_bytes())
        times: dict[bool, float] = {}
        for record in (False, True) * args.rounds:  # interleaved: load drift hits both modes
            root = str(work / f"root-{record}")
            t = float(_python(COLD, [str(median), str(args.repeat), root], work, record))
            times[record] = min(times.get(record, t), t)
        ratio = times[True] / times[False]
        print(
            f"recording reads, median corpus notebook ({source.name}): on {times[True]:.3f}s / "
            f"off {times[False]:.3f}s = {ratio:.3f} (<= 1.05) {'ok' if ratio <= 1.05 else 'OVER'}"
        )
        cpu = json.loads(
            _python(STEP_CPU, [str(median), str(10 * args.repeat), str(work)], work, True)
        )
        ratio = cpu["1"] / cpu["0"]
        print(
            f"recording reads, step CPU time ({source.name}): on {cpu['1']:.3f}s / "
            f"off {cpu['0']:.3f}s = {ratio:.3f} (<= 1.05) {'ok' if ratio <= 1.05 else 'OVER'}"
        )
        nb = many_files_notebook(work / "many", args.files)
        cold, cached = json.loads(
            _python(COLD_THEN_CACHED, [str(nb), str(args.repeat), str(work / "runs")], work, True)
        )
        ratio = cached / cold
        print(
            f"cached re-run, steps reading {args.files} files: cached {cached:.3f}s / "
            f"cold {cold:.3f}s = {ratio:.3f} (<= 0.10) {'ok' if ratio <= 0.10 else 'OVER'}"
        )


if __name__ == "__main__":
    main()
