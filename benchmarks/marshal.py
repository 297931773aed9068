"""Marshalling benchmark: the runtime's save+load vs the raw library calls.

    .venv/bin/python benchmarks/marshal.py [--runs 5] [--mb 400] [--rows 2000000]

Cases (each a save followed by a load into memory, median of ``--runs``):
  * a float64 array of ``--mb`` MB: ``artifacts.save_value``/``load_value`` (numpy backend,
    streamed with its sha256 digest) vs raw ``np.save``/``np.load``;
  * a DataFrame of ``--rows`` rows (float, int, string, category, datetime columns):
    ours (pandas backend: parquet, round-trip check on a sample, digest) vs raw
    ``df.to_parquet``/``pd.read_parquet``.
Prints a table with throughput ratios (raw seconds / ours seconds; target >= 0.7x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kale_like.runtime.artifacts import load_value, save_value  # noqa: E402


def timed_pair(a: Callable[[], Any], b: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, alternating so both see the same machine load."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(runs):
        for fn, times in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=400)
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    array = rng.random(args.mb * (1 << 20) // 8)
    n = args.rows
    frame = pd.DataFrame(
        {
            "x": rng.random(n),
            "k": rng.integers(0, 1_000_000, n),
            "s": pd.array([f"id-{i % 50_000}" for i in range(n)], dtype="str"),
            "c": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "t": pd.date_range("2020-01-01", periods=n, freq="s"),
        }
    )
    work = Path(tempfile.mkdtemp(prefix="kale-like-marshal-"))
    try:

        def ours(value: Any, name: str) -> Callable[[], Any]:
            def go() -> Any:
                save_value(name, value, work / name)
                return load_value(work / name)

            return go

        def raw_numpy() -> Any:
            np.save(work / "raw.npy", array)
            return np.load(work / "raw.npy")

        def raw_parquet() -> Any:
            frame.to_parquet(work / "raw.parquet")
            return pd.read_parquet(work / "raw.parquet")

        # Correctness first: the benchmark must compare equal round trips.
        assert np.array_equal(ours(array, "a")(), array)
        pd.testing.assert_frame_equal(ours(frame, "f")(), frame)

        rows = []
        for label, mine, base, size in (
            (f"float64 array {args.mb} MB", ours(array, "a"), raw_numpy, array.nbytes),
            (f"DataFrame {n:,} rows", ours(frame, "f"), raw_parquet, None),
        ):
            t_base, t_mine = timed_pair(base, mine, args.runs)
            rows.append((label, t_base, t_mine, size))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} cores (the digest needs a free core)")
    print(f"{'case':28} {'raw s':>8} {'ours s':>8} {'ratio':>7}  (raw/ours throughput; >= 0.7)")
    ok = True
    for label, t_base, t_mine, size in rows:
        ratio = t_base / t_mine
        ok &= ratio >= 0.7
        extra = f"  {size / t_mine / 1e6:,.0f} MB/s ours" if size else ""
        print(f"{label:28} {t_base:8.3f} {t_mine:8.3f} {ratio:6.2f}x{extra}")
    print("target met" if ok else "target NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
