"""``kale-like deploy NB``: upload to Kubeflow Pipelines, start a run, optionally watch it.

Also the ``--remote`` half of ``kale-like runs list|show`` (:func:`add_remote_options`,
:func:`handle_runs_remote`), so the listing of cluster runs lives next to the code that
starts them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, EXIT_RUN_FAILED
from ..run_results import RunEvent
from . import options

EXAMPLES = """examples:
  kale-like deploy nb.ipynb --host https://kfp.example/pipeline -p alpha 0.3 --watch
  kale-like deploy nb.ipynb --upload-only            # new pipeline, or a new version of it
  kale-like deploy out/pipeline.yaml --version v2    # an already compiled pipeline
settings not given as flags come from the notebook's kubeflow_notebook metadata, then
KF_PIPELINES_ENDPOINT / KF_PIPELINES_NAMESPACE / KFP_TOKEN / KF_PIPELINES_SA_TOKEN_PATH,
then ~/.config/kale-like/config.yaml (or $KALE_LIKE_CONFIG)."""


def register(sub: Any, name: str) -> None:
    p = options.add_command(
        sub,
        name,
        help="upload the pipeline to Kubeflow Pipelines and start a run",
        description="Upload the pipeline to Kubeflow Pipelines (a new pipeline, or a new version "
        "of an existing one), start a run in an experiment, print its URL, optionally watch it.",
        epilog=EXAMPLES,
    )
    options.add_notebook_argument(p, "tagged notebook (.ipynb) or compiled pipeline (.yaml)")
    options.add_kfp_options(p)
    p.add_argument("--experiment", help="experiment to run in (created if missing)")
    options.add_parameter_options(
        p, help="pipeline parameter (repeatable)", files="YAML file of parameter values"
    )
    p.add_argument(
        "--images",
        metavar="FILE",
        help="step -> image mapping (JSON/YAML, e.g. the images.json of `kale-like build`)",
    )
    p.add_argument("--upload-only", action="store_true", help="upload, do not start a run")
    from .compile import add_observe_options

    add_observe_options(p)
    p.add_argument(
        "--version",
        dest="pipeline_version",
        metavar="V",
        help="name of the new pipeline version (default NAME-DIGEST-TIMESTAMP)",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="follow the run to its end; exit 0 on success, 1 on failure",
    )
    p.add_argument("--timeout", type=float, default=None, help="give up watching after S seconds")
    p.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between status polls while watching (default 2, grows to 15)",
    )
    options.add_json_option(p)
    p.set_defaults(func=handle_deploy)


def _pipeline_for(target: str, observe: bool = False, run_root: str | None = None) -> Any:
    """The Pipeline (for parameter types) of a notebook, or a stub for a compiled YAML.
    ``observe``: with the facts of a local run of the current code (one is made if none)."""
    if target.endswith((".yaml", ".yml")):
        from ..api.deployment import read_spec, spec_parameters
        from ..model import Pipeline

        path = Path(target)
        if not path.is_file():
            from ..errors import UsageError

            raise UsageError(f"pipeline YAML {target!r} does not exist", kind="no-such-file")
        return None, Pipeline(
            name="pipeline", steps=(), parameters=tuple(spec_parameters(read_spec(path)))
        )
    if observe:
        from ..api.analysis import check_pipeline
        from ..api.observed import observe_pipeline

        pipe = observe_pipeline(target, run_root=run_root)
        check_pipeline(pipe)
        return pipe, pipe
    from ..api.analysis import load_pipeline

    pipe = load_pipeline(target, run_root=run_root)
    return pipe, pipe


def _images(path: str, pipeline: Any) -> dict[str, str]:
    """``{step: ref}`` from a file: a plain mapping, or a document with an ``images`` key."""
    import yaml

    from ..errors import UsageError

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read images file {path!r}: {exc}", kind="bad-images") from exc
    mapping = doc.get("images", doc) if isinstance(doc, dict) else None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in mapping.items()
    ):
        raise UsageError(
            f"images file {path!r} must map step names to image references",
            kind="bad-images",
            fix="use the images.json written by `kale-like build`",
        )
    if pipeline is None:
        raise UsageError(
            "--images applies when deploying a notebook; a compiled YAML already names its images",
            kind="bad-images",
        )
    unknown = sorted(set(mapping) - set(pipeline.step_names))
    if unknown:
        raise UsageError(
            f"images file {path!r} names unknown steps {unknown}; steps: "
            f"{', '.join(pipeline.step_names)}",
            kind="bad-images",
        )
    return {str(k): str(v).strip() for k, v in mapping.items()}


def unbuilt_steps(pipeline: Any, images: dict[str, str]) -> list[str]:
    """Steps that will start from a plain base image rather than one built for them."""
    return [s.name for s in pipeline.steps if s.name not in images and s.settings.image is None]


def _warn_unbuilt(pipeline: Any, images: dict[str, str], notebook: str) -> None:
    # A plain python image has neither kale_like nor the step's packages: on a cluster the
    # step would fail at start with ModuleNotFoundError. Say so before uploading.
    steps = unbuilt_steps(pipeline, images)
    if steps:
        base = pipeline.base_image or "the default python:X.Y-slim"
        print(
            f"kale-like deploy: warning: steps {', '.join(steps)} start from {base}, which must "
            "already contain kale_like and the packages they import\n"
            f"  fix: kale-like build {notebook} --registry REGISTRY --push -o out/ "
            "and deploy with --images out/images.json",
            file=sys.stderr,
        )


def _printer(stream: Any) -> Any:
    start = time.monotonic()

    def show(ev: RunEvent) -> None:
        what = ev.step or "run"
        extra = f" — {ev.message}" if ev.message else ""
        print(
            f"[{time.monotonic() - start:6.1f}s] {what}: {ev.status}{extra}",
            file=stream,
            flush=True,
        )

    return show


def handle_deploy(args: argparse.Namespace) -> int:
    from .. import params
    from ..api.deployment import KfpTarget, deploy

    if args.observe and args.notebook.endswith((".yaml", ".yml")):
        from ..errors import UsageError

        raise UsageError(
            "--observe applies to a notebook; a compiled YAML is deployed as it is",
            kind="bad-observe",
            fix="pass the notebook (.ipynb), or leave out --observe",
        )
    pipeline, typed = _pipeline_for(args.notebook, args.observe, args.run_root)
    given = args.parameter
    if pipeline is None:  # a compiled YAML: `-p LEARNING_RATE` names the input learning_rate
        from ..api.deployment import input_name

        given = [(input_name(typed.parameters, name), text) for name, text in given]
    overrides = params.from_cli(typed, params=given, files=args.parameters_file)
    images = _images(args.images, pipeline) if args.images else None
    if pipeline is not None and not args.json:
        _warn_unbuilt(pipeline, images or {}, args.notebook)
    result = deploy(
        pipeline if pipeline is not None else args.notebook,
        kfp=KfpTarget(experiment=args.experiment, **options.kfp_connection(args)),
        parameters=overrides,
        upload_only=args.upload_only,
        version=args.pipeline_version,
        watch=args.watch,
        progress=None if args.json else _printer(sys.stderr),
        images=images,
        timeout=args.timeout,
        poll=max(0.0, args.poll),
    )
    if args.json:
        options.print_json(result.to_json())
    else:
        what = "new pipeline" if result.new_pipeline else f"new version {result.version_name!r} of"
        print(
            f"uploaded {what} {result.pipeline_name!r} "
            f"(pipeline {result.pipeline_id}, version {result.version_id})",
            file=sys.stderr,
        )
        if result.run_url:
            print(result.run_url)
    if args.watch and result.status != "succeeded":
        failed = next((n for n, s in result.steps.items() if s.status == "failed"), None)
        where = f" at step {failed!r}" if failed else ""
        options.print_error("deploy", f"run {result.run_id} {result.status}{where}")
        return EXIT_RUN_FAILED
    return EXIT_OK


# ---------------------------------------------------------------- `runs ... --remote`


def add_remote_options(p: argparse.ArgumentParser) -> None:
    """Flags the ``runs`` command adds for ``--remote`` (endpoint and credentials)."""
    p.add_argument(
        "--remote", action="store_true", help="list/show runs on the Kubeflow Pipelines endpoint"
    )
    options.add_kfp_options(p)
    p.add_argument(
        "--mlmd",
        metavar="URL",
        help="ML Metadata gRPC-web endpoint to read metrics from (default $KALE_LIKE_MLMD_HOST; "
        "in a cluster http://metadata-envoy-service.kubeflow:9090)",
    )


def _metrics_reader(args: argparse.Namespace) -> Any:
    """MLMD metrics reader when an endpoint is named (flag or env), else None."""
    from ..api.deployment import metrics_reader

    return metrics_reader(getattr(args, "mlmd", None))


def handle_runs_remote(args: argparse.Namespace) -> int:
    """``runs list --remote`` / ``runs show --remote RUN_ID``; prints text or JSON."""
    from ..api.deployment import remote_run_show, remote_runs_list

    as_json = getattr(args, "json", False)
    conn = options.kfp_connection(args)
    if args.action != "show":
        runs = remote_runs_list(limit=int(getattr(args, "limit", None) or 20), **conn)
        if as_json:
            options.print_json(runs, default=str)
            return EXIT_OK
        if not runs:
            print("no runs")
        for r in runs:
            print(f"{r['run_id']}  {r['status']:<10} {r['created_at'] or '':<32} {r['name']}")
        return EXIT_OK
    item = remote_run_show(str(args.run_id or ""), metrics_reader=_metrics_reader(args), **conn)
    if as_json:
        options.print_json(item, default=str)
    else:
        print(f"run {item['run_id']}: {item['status']} ({item['state']})")
        print(f"  {item['run_url']}")
        for name, step in item["steps"].items():
            err = f"  {step['error']}" if step.get("error") else ""
            print(f"  {name:<24} {step['status']}{err}")
        for k, v in item.get("metrics", {}).items():
            print(f"  metric {k} = {v}")
    return EXIT_OK
