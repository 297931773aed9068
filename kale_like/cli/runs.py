"""``kale-like runs list`` and ``kale-like runs show RUN_ID``."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ..errors import cell_label
from . import options

EXAMPLES = """examples:
  kale-like runs list                              # runs under ./.kale_like
  kale-like runs list --notebook notebook.ipynb    # runs of this notebook
  kale-like runs show 20250101-120000-abc123 --json
exit codes: 0 ok, 2 unknown run or bad input"""


def register(sub: Any, name: str) -> None:
    p = options.add_command(
        sub,
        name,
        help="list or show past runs",
        description="Past local runs (or, with --remote, runs on Kubeflow Pipelines).",
        epilog=EXAMPLES,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--run-root",
        metavar="DIR",
        help="where runs live (default: ./.kale_like or $KALE_LIKE_RUN_ROOT)",
    )
    options.add_json_option(common, help="print JSON")
    from .deploy import add_remote_options  # `--remote`: runs on Kubeflow Pipelines

    add_remote_options(common)
    ls = actions.add_parser(
        "list",
        parents=[common],
        help="past runs, newest first",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument(
        "--notebook",
        metavar="NB",
        help="only runs of this notebook (and use the run root beside it)",
    )
    ls.set_defaults(func=handle_runs_list)
    show = actions.add_parser(
        "show",
        parents=[common],
        help="one run: steps, metrics, lineage",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(func=handle_runs_show)
    p.set_defaults(func=handle_runs_list, run_root=None, json=False, notebook=None)


def handle_runs_list(args: argparse.Namespace) -> int:
    if getattr(args, "remote", False):
        from .deploy import handle_runs_remote

        return handle_runs_remote(args)
    from ..api.history import runs_list

    rows = runs_list(run_root=args.run_root, notebook=getattr(args, "notebook", None))
    if args.json:
        options.print_json(rows, default=repr)
        return 0
    if not rows:
        print("no runs yet")
        return 0
    header = ("RUN ID", "STATUS", "ENGINE", "STARTED", "SECONDS", "STEPS", "PIPELINE")
    table = [header]
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"] or 0))
        steps = " ".join(f"{k}:{v}" for k, v in sorted(r["steps"].items()))
        table.append(
            (
                str(r["run_id"]),
                str(r["status"]),
                str(r["engine"]),
                started,
                f"{r['seconds'] or 0:.1f}",
                steps,
                str(r["pipeline"]),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def handle_runs_show(args: argparse.Namespace) -> int:
    if getattr(args, "remote", False):
        from .deploy import handle_runs_remote

        return handle_runs_remote(args)
    from ..api.history import runs_show

    rec = runs_show(args.run_id, run_root=args.run_root)
    if args.json:
        options.print_json(rec, default=repr)
        return 0
    nb = rec.get("notebook") or {}
    print(f"run {rec['run_id']}: {rec['status']} ({rec.get('engine')}, {rec.get('seconds')}s)")
    print(f"notebook: {nb.get('path')}  sha256 {str(nb.get('sha256'))[:12]}")
    print(f"parameters: {json.dumps(rec.get('parameters', {}), default=repr)}")
    if rec.get("metrics"):
        print("metrics: " + ", ".join(f"{k}={v!r}" for k, v in rec["metrics"].items()))
    base = os.path.dirname(nb["path"]) if nb.get("path") else None
    for name, s in rec.get("steps", {}).items():
        key = str(s.get("cache_key") or "")[:12]
        print(
            f"  {name}: {s['status']} {s.get('seconds', 0):.2f}s" + (f"  key {key}" if key else "")
        )
        for var, src in s.get("inputs", {}).items():
            print(f"      in  {var} <- {src['producer']} ({src['digest'][:12]})")
        for var, digest in s.get("outputs", {}).items():
            print(f"      out {var} ({str(digest)[:12]})")
        if s.get("metrics"):
            print("      metrics " + ", ".join(f"{k}={v!r}" for k, v in s["metrics"].items()))
        if s.get("rerun_reason"):
            print(f"      re-ran: {str(s['rerun_reason']).split(': ', 1)[-1]}")
        for line in _read_lines(s.get("reads") or {}, base):
            print(f"      {line}")
        if s.get("report"):
            print(f"      report {s['report']}")
        if s.get("error"):
            where = f" ({cell_label(s['cell'])})" if isinstance(s.get("cell"), int) else ""
            print(f"      error{where}: {s['error']}")
    return 0


MAX_READS_SHOWN = 20


def _read_lines(reads: dict[str, Any], base: str | None) -> list[str]:
    """What a step read from outside its inputs (lineage), one line each, the first 20."""
    from ..runtime.reads import show_path

    lines = [
        f"read {show_path(p, base)} ({_short(d)})" for p, d in (reads.get("files") or {}).items()
    ]
    for path, digest in (reads.get("dirs") or {}).items():
        count = str(digest).split(":", 1)[0].lstrip("m") or "?"
        lines.append(f"listed {show_path(path, base).rstrip('/')}/ ({count} entries)")
    lines += [f"network {a}" for a in reads.get("network") or []]
    lines += [f"process {c}" for c in reads.get("processes") or []]
    if len(lines) > MAX_READS_SHOWN:
        more = len(lines) - MAX_READS_SHOWN
        lines = [*lines[:MAX_READS_SHOWN], f"... and {more} more (--json lists them all)"]
    return lines


def _short(digest: str) -> str:
    if not digest:
        return "missing"
    if digest.startswith("large:"):
        size = digest.split(":")[1]
        return f"{size} bytes, size+mtime+ends {digest.rsplit(':', 1)[-1][:12]}"
    return "sha256 " + digest[:12] if len(digest) == 64 else digest
