"""Kale's cell rules, end to end: notebooks written for Kale 0.7 (``block:``) and Kale 2.3
(``step:``) run unchanged, with the values of a top-to-bottom run in Kale's cell order; every
tag error of a notebook is reported in one pass, and applying the fixes it names works.

Ground truth is written out by hand for each notebook: the cells Kale runs, in the order it
runs them (cells above every tag left out, untagged cells joining the block above them,
``imports``/``functions`` replayed first), executed in one namespace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook

from kale_like.api.analysis import load_pipeline
from kale_like.api.compilation import compile as compile_notebook
from kale_like.api.execution import run
from kale_like.cli import main
from kale_like.errors import TagError


def kale_notebook(keyword: str) -> list[Any]:
    """Cells of a Kale-style notebook using ``keyword`` (block or step) for its steps."""
    return [
        # Above every tagged cell: Kale leaves it out (it would fail if it ran).
        cell("raise RuntimeError('a cell above every tag is not part of the pipeline')"),
        cell("import math", "imports"),
        cell("import statistics"),  # untagged after imports: an import too
        cell("CUTOFF = 2", "pipeline-parameters"),
        cell("xs = [1.5, 2.5, 3.5]", f"{keyword}:load"),
        cell("xs.append(4.5)", f"{keyword}:", "prev:nothing_here"),  # continues load
        cell("def norm(v):\n    return statistics.mean(v)", "functions"),
        cell("def encode(v):\n    return [math.floor(x) for x in v if x > CUTOFF]"),  # functions
        cell("m = norm(xs)", f"{keyword}:fit", "prev:load"),
        cell("codes = encode(xs)", f"{keyword}:report", "prev:load"),
        cell("n_codes = len(codes)"),  # continues report
        cell("print(m)\nprint(n_codes)", "pipeline-metrics"),
    ]


def kale_order_values(cells: list[Any], order: list[int], names: list[str]) -> dict[str, Any]:
    """Run ``cells[order]`` in one namespace (Kale's order); the values of ``names``."""
    ns: dict[str, Any] = {}
    for i in order:
        exec(compile(cells[i].source, f"<cell {i}>", "exec"), ns)
    return {n: ns[n] for n in names}


@pytest.mark.parametrize("keyword", ["block", "step"])
def test_kale_notebook_runs_unchanged_with_kale_order_values(keyword: str, tmp_path: Path) -> None:
    cells = kale_notebook(keyword)
    nb = write_notebook(tmp_path / f"kale_{keyword}.ipynb", *cells)
    before = nb.read_bytes()
    # Kale's order: imports (1, 2), functions (6, 7), parameters (3), then the steps.
    truth = kale_order_values(cells, [1, 2, 6, 7, 3, 4, 5, 8, 9, 10], ["m", "n_codes"])
    p = load_pipeline(nb)
    assert [(s.name, s.cells) for s in p.steps] == [
        ("load", (4, 5)),
        ("fit", (8,)),
        ("report", (9, 10)),
    ]
    assert p.prelude.import_cells == (1, 2) and p.prelude.function_cells == (6, 7)
    assert {d.kind for d in p.diagnostics} >= {"outside-pipeline", "ignored-prev"}
    result = run(nb, run_root=tmp_path / "runs")
    assert result.status == "succeeded", result.failed_step
    assert result.metrics == truth
    assert nb.read_bytes() == before


def test_kale_notebook_compiles_and_analyze_shows_each_cell_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = write_notebook(tmp_path / "kale.ipynb", *kale_notebook("block"))
    assert main(["analyze", str(nb), "--format", "json"]) == 0
    roles = {
        c["cell"]: (c["role"], c["step"], c["joined"])
        for c in json.loads(capsys.readouterr().out)["cells"]
    }
    assert roles[0] == ("outside", None, False)
    assert roles[2] == ("imports", None, True)
    assert roles[5] == ("step", "load", True)
    assert roles[7] == ("functions", None, True)
    assert roles[10] == ("step", "report", True)
    assert main(["compile", str(nb), "-o", str(tmp_path / "out")]) == 0


BROKEN = [
    ("x = 1", ["step:Load-Data"]),
    ("y = 2", ["step:train", "prev:load_dta"]),
    ("z = 3", ["step:evaluate", "imports"]),
    ("w = 4", ["step:a", "step:b"]),
    ("v = 5", ["step:late", "prev:final"]),
    ("u = 6", ["step:final", "limit:memory:lots"]),
    ("t = 7", ["step:final", "cache:enabled", "cache:disabled"]),
]


def _apply(tags: list[str], err: dict[str, Any]) -> list[str]:
    """Apply the fix text of one error to the tags of its cell, as a user would."""
    fix, tag = err["fix"], err.get("tag")
    if m := re.search(r"(?:rename it, e\.g\.|write) (\S+)$", fix):
        return [m.group(1) if t == tag else t for t in tags]
    if m := re.search(r"remove the tag '([^']+)'", fix):
        return [t for t in tags if t != m.group(1)]
    if m := re.search(r"keep '([^']+)'", fix):
        keep = m.group(1)
        return [t for t in tags if t == keep or not (t.startswith("step:") or t == "imports")]
    if "keep one of the two tags" in fix:
        return [t for t in tags if t != tag]
    if m := re.search(r"write it as", fix):
        return [t for t in tags if t != tag]
    raise AssertionError(f"no way to apply fix {fix!r}")


def test_every_tag_error_in_one_pass_and_the_fixes_work(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "broken.ipynb", *(cell(s, *t) for s, t in BROKEN))
    with pytest.raises(TagError) as info:
        load_pipeline(nb)
    errors = info.value.to_json()["diagnostics"]
    cells = sorted({e["cell"] for e in errors})
    assert cells == [0, 1, 2, 3, 4, 5, 6]  # one pass finds them all
    assert "all of them:" in str(info.value)
    # Apply every fix (as their tags say) and the notebook compiles.
    data = json.loads(nb.read_text(encoding="utf-8"))
    for err in errors:
        c = data["cells"][err["cell"]]
        tag = re.search(r"\(tag '([^']+)'\)$", err["message"])
        c["metadata"]["tags"] = _apply(
            c["metadata"]["tags"], {**err, "tag": tag.group(1) if tag else None}
        )
    fixed = tmp_path / "fixed.ipynb"
    fixed.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "out"
    compile_notebook(fixed, out)
    assert (out / "fixed.yaml").exists()


def test_cli_lists_every_tag_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = write_notebook(tmp_path / "broken.ipynb", *(cell(s, *t) for s, t in BROKEN))
    out = tmp_path / "out"
    assert main(["compile", str(nb), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for i in range(7):
        assert f"cell {i + 1}" in err
    assert not out.exists()
