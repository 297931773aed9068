"""``kale-like analyze NB``: steps, data edges with their variables, and diagnostics."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import cell_number
from ..model import CellRole, Pipeline
from . import options

HELP = """examples:
  kale-like analyze notebook.ipynb                   # steps, inputs, settings, diagnostics
  kale-like analyze notebook.ipynb --format json     # the JSON contract (also: --json)
  kale-like analyze notebook.ipynb --format mermaid  # a Mermaid graph of the DAG
exit codes: 0 ok, 2 bad input or error diagnostics, 3 environment problem"""


def register(sub: Any, name: str) -> argparse.ArgumentParser:
    parser = options.add_command(
        sub,
        name,
        help="show steps, data edges and diagnostics of a notebook",
        description="Analyse a tagged notebook: its steps in run order, the variables each "
        "step receives and from which step, its parameters and settings, and diagnostics.",
        epilog=HELP,
    )
    options.add_notebook_argument(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json", "mermaid"),
        default="text",
        help="output format (default: text)",
    )
    options.add_json_option(parser, help="same as --format json")
    options.add_pipeline_options(parser, base_image_help="default image of the steps")
    parser.add_argument(
        "--run-root",
        metavar="DIR",
        help="run root whose observed facts to use (default: .kale_like beside the notebook, "
        "or $KALE_LIKE_RUN_ROOT)",
    )
    parser.set_defaults(func=handle_analyze)
    return parser


def handle_analyze(args: argparse.Namespace) -> int:
    from ..api.analysis import load_pipeline

    # `--format json` also makes errors come out as JSON on stdout.
    args.json = args.json or args.format == "json"
    pipeline = load_pipeline(
        args.notebook, run_root=args.run_root, **options.pipeline_overrides(args)
    )
    fmt = "json" if args.json else args.format
    if fmt == "json":
        options.print_json(pipeline.to_json(), ensure_ascii=False)
    elif fmt == "mermaid":
        print(mermaid(pipeline))
    else:
        print(text(pipeline, args.notebook))
    return 2 if any(d.severity == "error" for d in pipeline.diagnostics) else 0


def text(p: Pipeline, path: str | None = None) -> str:
    """Human summary: steps in run order with cells, inputs, parameters, settings."""
    out = [f"pipeline {p.name} ({len(p.steps)} step{'s' if len(p.steps) != 1 else ''})"]
    if p.description:
        out.append(f"  {p.description}")
    if p.parameters:
        out.append(
            "parameters: " + ", ".join(f"{q.name}: {q.type} = {q.default!r}" for q in p.parameters)
        )
    if p.metrics:
        out.append("metrics: " + ", ".join(f"{m.name} (from {m.step})" for m in p.metrics))
    for i, s in enumerate(p.steps, 1):
        cells = ", ".join(str(cell_number(c)) for c in s.cells)
        where = f"{s.notebook} " if s.notebook is not None else ""
        line = f"{i}. {s.name}  [{where}cell{'s' if len(s.cells) != 1 else ''} {cells}]"
        if s.after:
            line += f"  after: {', '.join(s.after)}"
        out.append(line)
        for var, producer in s.inputs:
            seen = " (observed)" if var in s.observed else ""  # a local run saw the write
            out.append(f"     {var} <- {producer}{seen}")
        for kind, producer in s.state_inputs:
            seen = " (observed)" if kind in s.observed_state else ""
            out.append(f"     <{kind} state> <- {producer}{seen}")
        for path, producer in s.file_inputs:
            out.append(f"     file:{path} <- {producer}")
        if s.parameters:
            out.append(f"     parameters: {', '.join(s.parameters)}")
        if s.outputs:
            out.append(f"     outputs: {', '.join(s.outputs)}")
        settings = s.settings.to_json()
        if settings:
            out.append(f"     settings: {json.dumps(settings, ensure_ascii=False)}")
    if p.cells:
        out.append("cells: " + ", ".join(_role(c) for c in p.cells))
    if p.diagnostics:
        out.append("diagnostics:")
        out += [f"  {d.format()}" for d in p.diagnostics]
    return "\n".join(out)


def _role(c: CellRole) -> str:
    what = c.step if c.role == "step" else c.role
    return f"{c.cell} {what}{' (joined)' if c.joined else ''}"


def _label(text: str) -> str:
    # Mermaid labels are quoted; entity-escape everything that could end or break one.
    for a, b in (
        ("&", "#amp;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("|", "#124;"),
        ("\n", " "),
    ):
        text = text.replace(a, b)
    return f'"{text}"'


def mermaid(p: Pipeline) -> str:
    """``graph TD`` with one node per step; edges labelled with the variables they carry."""
    ids = {s.name: f"s{i}" for i, s in enumerate(p.steps)}
    out = ["graph TD"]
    for s in p.steps:
        if s.notebook is None:
            out.append(f"  {ids[s.name]}[{_label(s.name)}]")
    # A composition's referenced notebooks: one subgraph each, holding its steps.
    for n, notebook in enumerate(p.notebooks):
        out.append(f"  subgraph nb{n}[{_label(notebook)}]")
        for s in p.steps:
            if s.notebook == notebook:
                out.append(f"    {ids[s.name]}[{_label(s.name)}]")
        out.append("  end")
    for s in p.steps:
        carried: dict[str, list[str]] = {a: [] for a in s.after}
        for var, producer in s.inputs:
            carried.setdefault(producer, []).append(var)
        for kind, producer in s.state_inputs:
            if producer in carried:
                carried[producer].append(f"<{kind}>")
        observed = {p for v, p in s.inputs if v in s.observed}
        observed |= {p for k, p in s.state_inputs if k in s.observed_state}
        for producer in s.after:
            vs = carried[producer]
            if vs and producer in observed:  # an edge a local run observed: dotted, labelled
                out.append(f"  {ids[producer]} -.->|{_label(', '.join(vs))}| {ids[s.name]}")
            elif vs:
                out.append(f"  {ids[producer]} -->|{_label(', '.join(vs))}| {ids[s.name]}")
            else:
                out.append(f"  {ids[producer]} -.-> {ids[s.name]}")
    return "\n".join(out)
