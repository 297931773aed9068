"""How fast the JupyterLab panel answers an edit on a 200-cell notebook.

The panel sends the unsaved notebook JSON to ``POST /kale-like/analyze`` after each edit (debounced
200 ms). This starts a real ``jupyter server`` with the extension on 127.0.0.1, then measures:

- baseline: ``GET /api/status`` round trip (HTTP + auth overhead of the same server);
- in-process: ``kale_like.api.analyze`` on the same notebook dict (no HTTP);
- round trip: ``POST /kale-like/analyze`` with the notebook JSON, as the panel sends it.

It prints medians and p90s, the ratios round trip / in-process and round trip / HTTP baseline, and
whether debounce + round trip stays under the 300 ms budget of the issue.

    .venv/bin/python benchmarks/panel.py [--cells 200] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

BUDGET_MS = 300.0
DEBOUNCE_MS = 200.0  # the panel's default (settings: debounceMs)


def notebook(cells: int) -> dict[str, Any]:
    """A pipeline of ``cells`` code cells: imports, parameters, then a step every 4 cells, each
    reading what earlier steps wrote (so every edge carries variables)."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nb.cells.append(
        v4.new_code_cell("import math\nimport statistics", metadata={"tags": ["imports"]})
    )
    nb.cells.append(
        v4.new_code_cell("n = 10\nscale = 2.5", metadata={"tags": ["pipeline-parameters"]})
    )
    for i in range(cells - 3):
        step, part = divmod(i, 4)
        lines = [f"v{step}_{part} = [x * scale for x in range(n + {i})]"]
        if step > 0:
            lines.append(f"acc{step} = sum(v{step - 1}_3) + len(v{step - 1}_0)")
            lines.append(f"v{step}_{part}.append(acc{step})")
        if part == 3:
            lines.append(f"summary{step} = statistics.fmean(v{step}_{part})")
        tags = [f"step:s{step}"] if part == 0 else []
        nb.cells.append(v4.new_code_cell("\n".join(lines), metadata={"tags": tags}))
    last = (cells - 4) // 4
    nb.cells.append(
        v4.new_code_cell(f"print(summary{last - 1})", metadata={"tags": ["pipeline-metrics"]})
    )
    nbformat.validate(nb)
    return json.loads(json.dumps(nb))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(fn: Any, repeat: int) -> list[float]:
    fn()  # warm up (imports, caches)
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(name: str, ms: list[float]) -> float:
    med = statistics.median(ms)
    p90 = sorted(ms)[int(len(ms) * 0.9) - 1]
    print(f"{name:<34} median {med:7.1f} ms   p90 {p90:7.1f} ms")
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from kale_like import api

    nb = notebook(args.cells)
    analysis = api.analyze(nb)
    print(
        f"notebook: {len(nb['cells'])} cells, {len(analysis['steps'])} steps, "
        f"{sum(len(s['inputs']) for s in analysis['steps'])} data inputs"
    )

    token = "benchmark-token"
    port = free_port()
    with tempfile.TemporaryDirectory() as root:
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
        ]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=root,
        )
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
        body = json.dumps({"notebook": nb, "path": "bench.ipynb"}).encode()

        def call(path: str, data: bytes | None = None) -> bytes:
            req = urllib.request.Request(
                base + path, data=data, headers=headers, method="POST" if data else "GET"
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.read()

        try:
            deadline = time.time() + 60
            while True:
                try:
                    call("/kale-like/runs")
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        print("the server did not start", file=sys.stderr)
                        return 2
                    time.sleep(0.3)
            assert json.loads(call("/kale-like/analyze", body)) == json.loads(json.dumps(analysis))
            base_ms = summary(
                "baseline GET /api/status", timed(lambda: call("/api/status"), args.repeat)
            )
            local_ms = summary(
                "in-process api.analyze", timed(lambda: api.analyze(nb), args.repeat)
            )
            trip_ms = summary(
                "POST /kale-like/analyze round trip",
                timed(lambda: call("/kale-like/analyze", body), args.repeat),
            )
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)

    print(f"ratio round trip / in-process analyze: {trip_ms / local_ms:.2f}")
    print(f"ratio round trip / HTTP baseline:      {trip_ms / base_ms:.2f}")
    # From the last keystroke: the debounce, then the analysis round trip.
    total = DEBOUNCE_MS + trip_ms
    verdict = "OK" if total <= BUDGET_MS else "OVER BUDGET"
    print(
        f"edit -> panel update: {DEBOUNCE_MS:.0f} ms debounce + {trip_ms:.1f} ms round trip"
        f" = {total:.0f} ms (budget {BUDGET_MS:.0f} ms): {verdict}"
    )
    return 0 if total <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
