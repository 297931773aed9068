"""``kale-like run NB`` and ``kale-like verify NB``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_RUN_FAILED, cell_label
from . import options

RUN_HELP = """examples:
  kale-like run notebook.ipynb                         # local engine, cached, parallel
  kale-like run notebook.ipynb -p alpha 0.5 -r label 007 -f params.yaml
  kale-like run notebook.ipynb --from train            # re-run train and what follows
  kale-like run notebook.ipynb --only evaluate         # inputs from the cache
  kale-like run notebook.ipynb --engine kfp-local      # the compiled YAML under kfp.local
  kale-like run notebook.ipynb --json                  # {"run_id", "status", "metrics", "steps"}
exit codes: 0 ok, 1 a step failed, 2 bad input, 3 environment problem"""

VERIFY_HELP = """examples:
  kale-like verify notebook.ipynb
  kale-like verify notebook.ipynb -p alpha 0.5 --json
  kale-like run notebook.ipynb --verify                # the same
exit codes: 0 both runs agree, 1 they diverge or the run failed, 2 bad input,
3 environment problem"""


def register(sub: Any, name: str) -> None:
    verify_cmd = name == "verify"
    p = options.add_command(
        sub,
        name,
        epilog=VERIFY_HELP if verify_cmd else RUN_HELP,
        help=(
            "run the notebook top to bottom and as a pipeline, and compare"
            if verify_cmd
            else "run the notebook as a pipeline (local engine by default)"
        ),
        description=(
            "Run NOTEBOOK top to bottom (papermill) and as a pipeline with the same "
            "parameters, and compare metrics and every variable passed between steps. "
            "Exit 1 when they diverge."
            if verify_cmd
            else "Run NOTEBOOK as a pipeline. Independent steps run at the same time; "
            "unchanged steps are reused from the cache; a failed run resumes from the "
            "failed step."
        ),
    )
    options.add_notebook_argument(p)
    options.add_parameter_options(
        p,
        flag="--parameters",
        help="set a parameter (value parsed as a Python/YAML literal; repeatable)",
        raw=True,
        files="YAML file of parameter values (repeatable)",
        yaml=True,
    )
    p.add_argument(
        "--engine",
        default="local",
        metavar="NAME",
        help="local (default), kfp-local, docker or kfp",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="steps run at the same time (default: number of cores)",
    )
    p.add_argument("--no-cache", action="store_true", help="re-run every step")
    p.add_argument(
        "--from",
        dest="from_step",
        metavar="STEP",
        help="re-run STEP and the steps downstream of it; reuse the rest",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="STEP",
        # verify runs the whole pipeline, so the option is hidden there (and refused).
        help=argparse.SUPPRESS
        if verify_cmd
        else "run only STEP (repeatable or comma separated); its inputs come from the cache",
    )
    p.add_argument(
        "--run-root",
        metavar="DIR",
        help="where runs and the cache live (default: .kale_like/ beside the "
        "notebook, or $KALE_LIKE_RUN_ROOT)",
    )
    p.add_argument(
        "-o",
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the engine, e.g. -o host=https://HOST/pipeline for --engine kfp",
    )
    p.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="base of the step images for --engine docker (same as -o base_image=IMAGE; "
        "default: notebook metadata, $KALE_LIKE_BASE_IMAGE, then python:X.Y-slim)",
    )
    options.add_json_option(p)
    if not verify_cmd:
        p.add_argument(
            "--verify",
            action="store_true",
            help="also run top to bottom and compare (like `kale-like verify`)",
        )
    p.set_defaults(func=handle_verify if verify_cmd else handle_run)


def _overrides(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from ..api.execution import parse_cli_parameters, prepare

    pipeline = prepare(args.notebook)
    overrides = parse_cli_parameters(
        pipeline,
        params_=args.parameters,
        raw=args.parameters_raw,
        yaml_strings=args.parameters_yaml,
        files=args.parameters_file,
    )
    return pipeline, overrides


def _engine_options(args: argparse.Namespace) -> dict[str, str]:
    from ..errors import UsageError

    out: dict[str, str] = {}
    for item in args.engine_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"-o/--engine-option expects KEY=VALUE, got {item!r}", kind="bad-engine-option"
            )
        out[key.strip()] = value
    if getattr(args, "base_image", None):
        out["base_image"] = args.base_image
    return out


def _only(args: argparse.Namespace) -> list[str]:
    return [s.strip() for item in args.only for s in item.split(",") if s.strip()]


def _progress(args: argparse.Namespace, steps: int) -> Any:
    if args.json:
        return None
    from ..progress import for_stream

    return for_stream(sys.stderr, total=steps)


def handle_run(args: argparse.Namespace) -> int:
    if getattr(args, "verify", False):
        return handle_verify(args)
    from .. import engines
    from ..api.execution import run

    engines.get(args.engine)  # an unknown engine fails before the notebook is read
    pipeline, overrides = _overrides(args)
    result = run(
        pipeline,
        parameters=overrides,
        engine=args.engine,
        jobs=args.jobs,
        use_cache=not args.no_cache,
        from_step=args.from_step,
        only=_only(args) or None,
        run_root=args.run_root,
        progress=_progress(args, len(pipeline.steps)),
        engine_options=_engine_options(args),
    )
    if args.json:
        options.print_json(result.to_json(), default=repr)
    else:
        print(format_result(result))
    failed = result.failed_step
    if failed is not None:
        print(format_failure(failed), file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK if result.status == "succeeded" else EXIT_RUN_FAILED


def handle_verify(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..verification import verify

    if _only(args):
        # Skipped steps leave nothing to compare with the top-to-bottom run.
        raise UsageError(
            "verify runs the whole pipeline: --only cannot be used with it",
            kind="conflicting-options",
            fix="drop --only (--from STEP re-runs from a step)",
        )
    pipeline, overrides = _overrides(args)
    kwargs: dict[str, Any] = {
        "parameters": overrides,
        "engine": args.engine,
        "jobs": args.jobs,
        "use_cache": not args.no_cache,
        "from_step": args.from_step,
        "run_root": args.run_root,
        "engine_options": _engine_options(args),
    }
    report = verify(args.notebook, **kwargs)
    ok = bool(getattr(report, "ok", report))
    if args.json:
        to_json = getattr(report, "to_json", None)
        options.print_json(to_json() if to_json else {"ok": ok}, default=repr)
    else:
        to_text = getattr(report, "to_text", None)
        print(to_text() if to_text else ("verified" if ok else "diverged"))
    if getattr(report, "run_status", "succeeded") != "succeeded":
        # Both runs may fail alike (agreement), but a failed run is still a failed run.
        return EXIT_RUN_FAILED
    return EXIT_OK if ok else EXIT_RUN_FAILED


def format_result(result: Any) -> str:
    """Human summary: one line per step, then the metrics and where the run lives."""
    lines = [f"run {result.run_id}: {result.status}"]
    width = max((len(n) for n in result.steps), default=4)
    for name, step in result.steps.items():
        seconds = f"{step.seconds:6.2f}s" if step.status in ("succeeded", "failed") else ""
        lines.append(f"  {name:<{width}}  {step.status:<9} {seconds}")
        lines += [f"    note: {note}" for note in getattr(step, "notes", None) or ()]
    if result.metrics:
        lines.append("metrics:")
        lines += [f"  {k} = {v!r}" for k, v in result.metrics.items()]
    if result.run_dir:
        lines.append(f"run folder: {result.run_dir}")
    return "\n".join(lines)


def format_failure(step: Any) -> str:
    where = f"step {step.name!r}" + (f", {cell_label(step.cell)}" if step.cell is not None else "")
    text = str(step.error or "").strip()
    error, _, rest = text.partition("\n")  # one line; the rest goes above it
    # The runtime's summary may already say where ("step 'x' failed in cell 3: ...").
    summary = error if error.startswith(f"step {step.name!r}") else f"{where} failed: {error}"
    # Details first: the last line (what a terminal or CI log shows) names the step.
    lines = [step.traceback.rstrip()] if step.traceback else []
    if rest.strip() and rest.strip() not in (step.traceback or ""):
        lines.append(rest.strip())
    if step.report:
        lines.append(f"report: {step.report}")
    lines.append(f"kale-like run: {summary}")
    return "\n".join(lines)
