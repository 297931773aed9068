"""verify's comparison: a finished pipeline run against the values a top-to-bottom run dumped.

Pure of the verbs: :func:`compare` reads the pipeline run's folder (its :class:`RunResult`)
and the dump directory of :func:`.top_to_bottom.run_top_to_bottom`, compares every variable
passed between steps (in a separate process where the notebook's imports and functions cells
were replayed, so instances of notebook classes load) and the metrics, and explains the
first divergence with its likely cause. :func:`seeded` makes the pipeline's step processes
seed their RNGs like the top-to-bottom run does. The verb is :func:`kale_like.verification.verify`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import cell_label
from ..model import Pipeline, Step
from ..records import step_dirname
from ..run_results import RunResult, StepResult
from .mismatches import Mismatch, VerifyReport

__all__ = ["compare", "seeded"]

_RNG = re.compile(
    r"\brandom\.|np\.random|numpy\.random|default_rng|RandomState|torch\.(manual_seed|rand)"
    r"|\bshuffle\(|\bsample\(|\bchoice\(|random_state"
)
_HIDDEN = re.compile(
    r"os\.environ|getenv|%env|chdir|getcwd|sys\.path|\bopen\(|read_csv|to_csv|\btime\.|"
    r"datetime\.now|uuid|warnings\.|set_option|rcParams|style\.use"
)


def _artifact(run_dir: str | None, step: str, var: str) -> Path:
    if run_dir is None:  # an engine without a run folder: the caller compares metrics only
        raise TypeError("the run has no run folder")
    sdir = Path(run_dir) / "steps" / step_dirname(step)
    link = sdir / "artifacts"
    if link.exists():
        return link / var
    text = sdir / "artifacts.txt"
    return Path(text.read_text(encoding="utf-8").strip()) / var


def _cause(kind: str, step: Step, pipeline: Pipeline, variable: str | None) -> str:
    if kind == "input":
        producer = dict(step.inputs).get(variable or "", "?")
        return (
            f"mutation not tracked: {variable!r} changed between the end of step "
            f"{producer!r} and the start of {step.name!r} in the top-to-bottom run (a method "
            "call, an alias or a function mutated it) but the pipeline passed the value "
            f"{producer!r} produced; make the change explicit (assign {variable} = ...) or "
            "tag the cells so the mutating step comes first"
        )
    code = "\n".join(step.sources) + "\n" + "\n".join(pipeline.prelude.functions)
    if _RNG.search(code):
        return (
            "RNG seed/state: the step draws random numbers; seed it in the step itself (or "
            "use a Generator passed as a variable) so both runs draw the same sequence"
        )
    if _HIDDEN.search(code):
        return (
            "hidden global state: the step depends on the environment, files, the working "
            "directory, the clock or global settings that differ between the runs"
        )
    return (
        "hidden state: the step reads something the pipeline does not pass (a global "
        "changed elsewhere, a file, or an object shared with another variable)"
    )


@contextlib.contextmanager
def seeded() -> Iterator[None]:
    """Step processes started meanwhile seed their RNGs like the top-to-bottom run does."""
    from ..runtime.state import SEED_ENV
    from .top_to_bottom import VERIFY_SEED

    old = os.environ.get(SEED_ENV)
    os.environ[SEED_ENV] = str(VERIFY_SEED)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(SEED_ENV, None)
        else:
            os.environ[SEED_ENV] = old


def compare(
    path: Path,
    pipeline: Pipeline,
    result: RunResult,
    dump_dir: str,
    tb_cell: int | None,
    tb_exc: str | None,
    work: Path,
    origin: list[tuple[str | None, int]] | None = None,
) -> VerifyReport:
    """The report of ``result`` (the pipeline run of ``path``) against the top-to-bottom run
    whose values are under ``dump_dir`` and which raised ``tb_exc`` in ``tb_cell`` (if it
    did); ``origin`` maps a flattened composition's cells back to their notebooks."""
    report = VerifyReport(
        notebook=str(path),
        ok=True,
        run_id=result.run_id,
        run_status=result.status,
        result=result,
    )
    failed = result.failed_step
    tb_step = next((s.name for s in pipeline.steps if tb_cell in s.cells), None)
    if origin is not None and tb_cell is not None:
        tb_cell = origin[tb_cell][1]  # the cell in its own notebook, as the run reports it
    if failed is not None or tb_exc is not None:
        mismatch = _failure_mismatch(failed, tb_step, tb_cell, tb_exc)
        if mismatch is None:
            report.notes.append(
                f"both runs failed in step {tb_step!r}, {_cell(tb_cell)} with {tb_exc}; the "
                "values before the failure were compared"
            )
        else:
            report.mismatches.append(mismatch)
    pairs, unreadable = _value_pairs(pipeline, result, dump_dir)
    compared = _compare_in_subprocess(pipeline, pairs, work, path.parent)
    diverged: set[tuple[str, str]] = set()  # (step, variable) outputs that disagree
    for item in compared:
        report.compared.append(f"{item['step']}.{item['variable']}")
        diff = item.get("difference")
        problem = (f"top to bottom vs pipeline: {diff}" if diff else None) or (
            f"could not load: {item['error']}" if item.get("error") else None
        )
        if not problem:
            continue
        step = pipeline.step(item["step"])
        var = item["variable"]
        source = dict(step.inputs).get(var) if item["kind"] == "input" else None
        if source is not None and (source, var) in diverged:
            cause = f"follows from the divergence of {var!r} in step {source!r}"
        else:
            cause = _cause(item["kind"], step, pipeline, var)
        if item["kind"] == "output":
            diverged.add((item["step"], var))
        report.mismatches.append(Mismatch(item["step"], var, item["kind"], problem, cause))
    rounded = {
        f"{item['step']}.{item['variable']}": item["rounding"]
        for item in compared
        if item.get("rounding") is not None
    }
    rounded.update(_compare_metrics(pipeline, result, dump_dir, report))
    if rounded:
        report.notes.append(_rounding_note(rounded))
    if unreadable:
        engine = getattr(result, "engine", None) or "this engine"
        what = "only metrics were compared" if not pairs else "some variables were not compared"
        report.notes.append(
            f"{what}: {len(unreadable)} variable(s) passed between steps are not kept where "
            f"verify can read them with engine {engine!r}; use the local engine (the default) "
            "to compare them too"
        )
    report.ok = not report.mismatches
    return report


def _value_pairs(
    pipeline: Pipeline, result: RunResult, dump_dir: str
) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """The values to compare: each step's inputs and outputs as the top-to-bottom run dumped
    them and as the pipeline run saved them; and the (producer, variable) pairs the run
    saved where verify cannot read them (another engine's layout)."""
    pairs: list[dict[str, Any]] = []
    unreadable: set[tuple[str, str]] = set()  # (producer, variable) not in a local run folder
    routed = _routed_inputs(result.run_dir)
    for step in pipeline.steps:
        for phase, names in (("in", [v for v, _ in step.inputs]), ("out", list(step.outputs))):
            for var in names:
                producer = dict(step.inputs)[var] if phase == "in" else step.name
                if phase == "in":  # the local engine may have re-planned where it came from
                    producer = routed.get((step.name, var), producer)
                expected = Path(dump_dir) / phase / step.name / "values" / var
                try:
                    actual = _artifact(result.run_dir, producer, var)
                except (OSError, TypeError):  # another engine's layout: metrics only
                    done = getattr(result.steps.get(producer), "status", None)
                    if done in ("succeeded", "cached"):  # a failed step saved nothing
                        unreadable.add((producer, var))
                    continue
                if expected.is_dir() and actual.is_dir():
                    pairs.append(
                        {
                            "step": step.name,
                            "variable": var,
                            "kind": "input" if phase == "in" else "output",
                            "expected": str(expected),
                            "actual": str(actual),
                        }
                    )
    return pairs, unreadable


def _cell(index: int | None) -> str:
    # The top-to-bottom run names the cell of every exception it reports.
    return cell_label(index) if index is not None else "a cell"


def _routed_inputs(run_dir: str | None) -> dict[tuple[str, str], str]:
    """(step, variable) -> the step that actually provided it, from the run record (the
    local engine re-routes a value a step changed without the analysis seeing it)."""
    try:
        record = json.loads((Path(run_dir or "") / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found: dict[tuple[str, str], str] = {}
    for name, step in (record.get("steps") or {}).items():
        for var, given in (step.get("inputs") or {}).items():
            if isinstance(given, dict) and isinstance(given.get("producer"), str):
                found[(name, var)] = given["producer"]
    return found


def _failure_mismatch(
    failed: StepResult | None, tb_step: str | None, tb_cell: int | None, tb_exc: str | None
) -> Mismatch | None:
    """None when both runs failed alike (same step, cell and exception type)."""
    if (
        failed is not None
        and tb_exc is not None
        and failed.name == tb_step
        and failed.cell == tb_cell
        # Alike means the same exception type; the messages may name different objects.
        and re.search(rf"\b{re.escape(tb_exc.split(':', 1)[0])}\b", failed.error or "")
    ):
        return None
    pipeline_side = f"step {failed.name!r} failed ({failed.error})" if failed else "succeeded"
    notebook_side = f"{_cell(tb_cell)} raised {tb_exc}" if tb_exc else "succeeded"
    detail = f"pipeline: {pipeline_side}; top to bottom: {notebook_side}"
    if failed is None:
        return Mismatch(
            tb_step or "?",
            None,
            "failure",
            detail,
            "the pipeline did not run what the notebook runs (skipped or reordered cells)",
        )
    missing = re.search(r"name '(\w+)' is not defined", failed.error or "")
    if missing:
        cause = (
            f"missing dependency: {missing.group(1)!r} is not passed to step "
            f"{failed.name!r}; add a prev: tag to the step that defines it, or define it "
            "in a way the analysis can see (a plain assignment)"
        )
    else:
        cause = (
            "a variable or process state the failing step needs did not reach it (see "
            "the step's traceback)"
        )
    return Mismatch(failed.name, None, "failure", detail, cause)


def _rounding_note(rounded: dict[str, float]) -> str:
    """Values equal only up to floating-point rounding: said, but no divergence."""
    from ..runtime.compare import ROUNDING

    names = sorted(rounded)
    shown = ", ".join(f"{n} ({rounded[n]:.1e})" for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return (
        f"{len(names)} value(s) agree up to floating-point rounding only (largest relative "
        f"difference in brackets; up to {ROUNDING:.0e} counts as equal): {shown}{more}; numeric "
        "libraries may add up in another order in another process (memory alignment, threads)"
    )


def _compare_metrics(
    pipeline: Pipeline, result: RunResult, dump_dir: str, report: VerifyReport
) -> dict[str, float]:
    """Compare the metrics; returns those equal only up to rounding (name -> difference)."""
    from ..runtime.artifacts import load_value
    from ..runtime.compare import collecting_rounding, difference

    def plain(v: Any) -> Any:
        return json.loads(json.dumps(v, default=repr))

    rounded: dict[str, float] = {}
    for metric in pipeline.metrics:
        path = Path(dump_dir) / "out" / metric.step / "metrics" / metric.name
        if not path.is_dir() or metric.name not in result.metrics:
            continue
        try:
            expected = plain(load_value(path))
        except Exception:
            continue
        report.compared.append(f"metric:{metric.name}")
        with collecting_rounding() as close:
            diff = difference(expected, plain(result.metrics[metric.name]), metric.name)
        if close and not diff:
            rounded[f"metric:{metric.name}"] = max(rel for _, rel in close)
        if diff:
            step = pipeline.step(metric.step)
            report.mismatches.append(
                Mismatch(
                    metric.step,
                    metric.name,
                    "metric",
                    diff,
                    _cause("output", step, pipeline, metric.name),
                )
            )
    return rounded


def _compare_in_subprocess(
    pipeline: Pipeline, pairs: list[dict[str, Any]], work: Path, cwd: Path
) -> list[dict[str, Any]]:
    from ..runtime.artifacts import read_meta

    # Same backend and same bytes: equal, no need to load (or to start the comparer).
    same: dict[int, dict[str, Any]] = {}
    for i, pair in enumerate(pairs):
        try:
            me, ma = read_meta(pair["expected"]), read_meta(pair["actual"])
        except (OSError, ValueError):
            continue
        if me["backend"] == ma["backend"] and me["digest"] == ma["digest"]:
            same[i] = {**pair, "difference": None}
    rest = [p for i, p in enumerate(pairs) if i not in same]
    loaded = iter(_compare_loaded(pipeline, rest, work, cwd) if rest else [])
    return [same[i] if i in same else next(loaded) for i in range(len(pairs))]


def _compare_loaded(
    pipeline: Pipeline, pairs: list[dict[str, Any]], work: Path, cwd: Path
) -> list[dict[str, Any]]:
    prelude = [
        {"index": i, "source": s}
        for i, s in zip(pipeline.prelude.import_cells, pipeline.prelude.imports, strict=False)
    ]
    prelude += [
        {"index": i, "source": s}
        for i, s in zip(pipeline.prelude.function_cells, pipeline.prelude.functions, strict=False)
    ]
    job = {"prelude": prelude, "pairs": pairs, "result_path": str(work / "compare.json")}
    (work / "compare_job.json").write_text(json.dumps(job), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "kale_like.runtime.compare", str(work / "compare_job.json")],
        cwd=str(cwd),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        from ..errors import RunFailed

        raise RunFailed(
            f"verify could not compare the values: {proc.stderr.strip()[-2000:]}",
            kind="verify-error",
        )
    out: list[dict[str, Any]] = json.loads((work / "compare.json").read_text("utf-8"))["results"]
    return out
