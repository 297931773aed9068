"""``kale-like sweep``: hyperparameter sweeps over the whole pipeline (local or Katib)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..errors import EXIT_OK, EXIT_RUN_FAILED, UsageError
from . import options

EXAMPLES = """examples:
  kale-like sweep nb.ipynb --param lr=loguniform:1e-4:1e-1 --param depth=choice:3,5,8 \\
      --objective accuracy --maximize --algorithm random --trials 16 --parallel 2
  kale-like sweep nb.ipynb                      # the notebook's katib_metadata block
  kale-like sweep --resume 20261127-120501-3fa2c1 --run-root .kale_like
  kale-like sweep nb.ipynb ... --engine katib --dry-run -o out/
search spaces: choice:a,b,c | range:min:max:step | uniform:min:max | loguniform:min:max |
  int:min:max (values typed like the parameter's default)"""


def register(sub: Any, name: str) -> None:
    p = options.add_command(
        sub,
        name,
        help="hyperparameter sweep over the whole pipeline",
        description="Run the pipeline once per trial, varying pipeline parameters. "
        "Locally, steps that read no swept parameter run once for all trials (shared cache).",
        epilog=EXAMPLES,
    )
    p.add_argument("notebook", nargs="?", help="the tagged notebook (not needed with --resume)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="a swept pipeline parameter (repeatable)",
    )
    p.add_argument("--objective", metavar="METRIC", help="the metric to optimize")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--maximize", dest="maximize", action="store_true", default=None)
    way.add_argument("--minimize", dest="maximize", action="store_false")
    p.add_argument(
        "--algorithm", help="grid | random | bayesian | tpe (default: metadata, else random)"
    )
    p.add_argument("--trials", type=int, help="number of trials (grid: the whole grid)")
    p.add_argument("--parallel", type=int, help="trials at once (default 1)")
    p.add_argument("--max-failed", type=int, help="stop when more trials fail (default 3)")
    p.add_argument("--seed", type=int, help="seed of random/tpe proposals (reproducible)")
    p.add_argument("--grid-points", type=int, help="grid points for uniform/loguniform ranges")
    options.add_parameter_options(p, help="hold a pipeline parameter at VALUE in every trial")
    p.add_argument("--engine", default="local", choices=["local", "katib"])
    p.add_argument("--resume", metavar="SWEEP_ID", help="continue an interrupted local sweep")
    p.add_argument("--run-root", help="run folder root (default: .kale_like beside the notebook)")
    options.add_json_option(p)
    k = p.add_argument_group("katib engine")
    k.add_argument("--dry-run", action="store_true", help="write the Experiment YAML only")
    k.add_argument("-o", "--output-dir", help="where to write <pipeline>-experiment.yaml")
    k.add_argument("--namespace", help="Kubernetes namespace of the Experiment")
    k.add_argument("--trial-image", help="image with kale-like installed (the runtime image)")
    k.add_argument("--kfp-host", help="KFP API endpoint as seen from the trial pods")
    k.add_argument("--mlmd-host", help="ML Metadata gRPC-web URL as seen from the trial pods")
    k.add_argument("--token-secret", metavar="SECRET:KEY", help="KFP token from this Secret")
    k.add_argument("--service-account", help="service account of trial pods (default-editor)")
    k.add_argument("--name", help="Experiment name (default: the pipeline name)")
    k.add_argument("--base-image", metavar="IMAGE", help="base image of the pipeline's steps")
    k.add_argument(
        "--images",
        action="store_true",
        help="build (or reuse) one image per step environment for the pipeline and trials",
    )
    from .build import add_image_options

    add_image_options(p, base_image=False)
    p.set_defaults(func=handle_sweep)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class _Table:
    """One row per finished trial on stdout; on a terminal also a live progress line."""

    WIDTH = 100

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.header_done = False
        self.start = time.monotonic()
        self.running: dict[int, dict[str, Any]] = {}

    def _status(self, event: Any) -> None:
        done, total = event.finished, max(event.total, 1)
        filled = int(20 * done / total)
        bar = "#" * filled + "." * (20 - filled)
        line = f"[{bar}] {done}/{event.total}"
        if self.running:
            line += " · running " + ",".join(str(n) for n in sorted(self.running))
        if event.best is not None:
            line += f" · best {_fmt(event.best.objective)} (trial {event.best.number})"
        line += f" · {time.monotonic() - self.start:.0f}s"
        print("\r" + line[: self.WIDTH].ljust(self.WIDTH), end="", file=sys.stderr, flush=True)

    def _clear(self) -> None:
        print("\r" + " " * self.WIDTH + "\r", end="", file=sys.stderr, flush=True)

    def __call__(self, event: Any) -> None:
        if event.kind == "started" and event.number is not None:
            self.running[event.number] = dict(event.parameters or {})
        elif event.kind == "finished" and event.trial is not None:
            self.running.pop(event.trial.number, None)
            if self.tty:
                self._clear()
            self._row(event)
        if self.tty:
            if event.kind == "done":
                self._clear()
            else:
                self._status(event)

    def _row(self, event: Any) -> None:
        t = event.trial
        if not self.header_done:
            names = list(t.parameters)
            print(
                f"{'trial':>5}  "
                + "  ".join(f"{n:>12}" for n in names)
                + f"  {'objective':>12}  {'status':<9} {'seconds':>7}",
            )
            self.header_done = True
        obj = "-" if t.objective is None else _fmt(t.objective)
        best = " *" if event.best is not None and event.best.number == t.number else ""
        cells = "  ".join(f"{_fmt(v):>12}" for v in t.parameters.values())
        line = f"{t.number:>5}  {cells}  {obj:>12}  {t.status:<9} {t.seconds:>7.2f}{best}"
        if t.error:
            line += f"  ({t.error[:80]})"
        print(line, flush=True)


# Flags whose value goes to `api.sweep.sweep` as is, under the same name.
_SWEEP_ARGS = (
    "objective",
    "maximize",
    "algorithm",
    "seed",
    "grid_points",
    "engine",
    "resume",
    "run_root",
    "dry_run",
    "output_dir",
    "base_image",
)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `api.sweep.sweep` the flags set (budget, Katib target...)."""
    from ..sweep.options import Budget, KatibTarget

    return {
        **{key: getattr(args, key) for key in _SWEEP_ARGS},
        "budget": Budget(trials=args.trials, parallel=args.parallel, max_failed=args.max_failed),
        "katib": KatibTarget(
            namespace=args.namespace,
            host=args.kfp_host,
            token_secret=args.token_secret,
            service_account=args.service_account,
            trial_image=args.trial_image,
            name=args.name,
            mlmd_host=args.mlmd_host,
        ),
    }


def handle_sweep(args: argparse.Namespace) -> int:
    # Import the functions from their modules: `kale_like.api.sweep` is also a submodule name.
    from ..api.analysis import load_checked
    from ..api.sweeps import sweep

    fixed: dict[str, Any] | None = None
    if args.parameter:
        if not args.notebook:
            raise UsageError("-p needs the notebook", kind="usage")
        from ..api.execution import parse_cli_parameters

        # The notebook is refused as `run` refuses it before its -p values are read.
        fixed = parse_cli_parameters(load_checked(args.notebook), params_=args.parameter)
    images = None
    if args.engine == "katib" and args.images:
        from .build import images_for_compile

        images = images_for_compile(args)
    progress = None if args.json else _Table(sys.stderr.isatty())
    try:
        result = sweep(
            args.notebook,
            params=args.param or None,
            parameters=fixed,
            progress=progress,
            images=images,
            **_options(args),
        )
    except KeyboardInterrupt:
        print("\nkale-like sweep: interrupted before the first trial", file=sys.stderr)
        return 130
    if result.engine == "katib":
        return _report_katib(result, args)
    if args.json:
        options.print_json(result.to_json(), default=str)
    else:
        _report_local(result)
    best = result.best
    if result.status == "interrupted":
        return 130
    return EXIT_OK if best is not None and result.status == "completed" else EXIT_RUN_FAILED


def _report_local(result: Any) -> None:
    best = result.best
    ok = sum(1 for t in result.trials if t.ok)
    print(
        f"sweep {result.sweep_id}: {len(result.trials)} trials, {ok} ok, status {result.status}",
        file=sys.stderr,
    )
    if best is not None:
        params = " ".join(f"{k}={_fmt(v)}" for k, v in best.parameters.items())
        print(
            f"best: {result.metric}={_fmt(best.objective)} ({result.direction}) with {params}"
            f" (trial {best.number})"
        )
    else:
        print("no trial succeeded", file=sys.stderr)
    print(f"results: {result.sweep_dir}", file=sys.stderr)
    if result.status == "interrupted":
        root = str(result.sweep_dir).rsplit("/sweeps/", 1)[0]
        print(
            f"resume with: kale-like sweep --resume {result.sweep_id} --run-root {root}",
            file=sys.stderr,
        )


def _report_katib(result: Any, args: argparse.Namespace) -> int:
    if args.json:
        options.print_json(
            {"experiment": result.sweep_id, "status": result.status, "path": result.manifest_path}
        )
        return EXIT_OK
    if result.manifest_path:
        print(f"wrote {result.manifest_path}")
    if result.status == "created":
        print(f"created Katib Experiment {result.sweep_id}")
    return EXIT_OK
