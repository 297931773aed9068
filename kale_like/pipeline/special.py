"""The notebook's special cells read for the IR: pipeline parameters and pipeline metrics."""

from __future__ import annotations

from collections.abc import Mapping

from .. import graph
from ..analysis import parse_metrics, parse_parameters
from ..analysis.walker import BlockFacts
from ..compose import Composition
from ..diagnostics import Diagnostic
from ..model import Metric, Parameter
from ..notebook import Cell
from .placing import in_notebook

__all__ = ["metric_lines", "parameters", "pipeline_metrics", "tag_text"]

MetricLine = tuple[str, int, int]  # (name, cell, line)


def tag_text(cell: Cell) -> str | None:
    """The cell's first tag as written (quoted in errors about the cell's code)."""
    return cell.tags[0].text if cell.tags else None


def parameters(lay: graph.Layout) -> list[Parameter]:
    """The parameters of the pipeline-parameters (and papermill injected) cells; later wins."""
    params: dict[str, Parameter] = {}
    for kind in ("pipeline-parameters", "injected-parameters"):
        for c in lay.special[kind]:
            tag = c.first(kind)
            for p in parse_parameters(c.source, c.index, tag.text if tag else kind):
                params[p.name] = p
    return list(params.values())


def metric_lines(lay: graph.Layout) -> list[MetricLine]:
    """(name, cell, line) of every ``print(name)`` of the metrics cells."""
    out = []
    for c in lay.special["pipeline-metrics"]:
        tag = c.first("pipeline-metrics")
        for name, line in parse_metrics(c.source, c.index, tag.text if tag else "metrics"):
            out.append((name, c.index, line))
    return out


def pipeline_metrics(
    comp: Composition,
    lines: Mapping[str | None, list[MetricLine]],
    names: list[str],
    facts: Mapping[str, BlockFacts],
    diags: list[Diagnostic],
) -> list[Metric]:
    """The metrics of every notebook (the main notebook's wins a name); appends to ``diags``."""
    metrics: list[Metric] = []
    for part in reversed(comp.parts):
        found, metric_diags = _metrics(lines[part.key], names, facts)
        metrics = [*(m for m in metrics if m.name not in {n.name for n in found}), *found]
        diags += in_notebook(metric_diags, part.key)
    return metrics


def _metrics(
    lines: list[MetricLine], names: list[str], facts: Mapping[str, BlockFacts]
) -> tuple[list[Metric], list[Diagnostic]]:
    metrics: dict[str, Metric] = {}
    diags: list[Diagnostic] = []
    for name, cell, line in lines:
        writers = [s for s in names if name in facts[s].writes or name in facts[s].weak_writes]
        if not writers:
            diags.append(
                Diagnostic(
                    "error",
                    "undefined-metric",
                    f"metric {name!r} is not a variable any step defines",
                    cell,
                    line,
                    "print a variable that a step assigns",
                )
            )
            continue
        metrics[name] = Metric(name, writers[-1], cell, line)
    return list(metrics.values()), diags
