"""``kale-like analyze --format json`` is the same in every process, whatever the hash seed.

Set iteration order changes with ``PYTHONHASHSEED``; a set that leaks into a step's
``outputs`` (or any other list) makes the JSON differ between two runs of one notebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from corpus_kit import ROOT
from nb_kit import write_notebook

# One process analyses every notebook given, printing one JSON document per line.
ANALYZE_ALL = """
import contextlib, io, json, sys
from kale_like.cli import main
for path in sys.argv[1:]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["analyze", path, "--format", "json"])
    assert code == 0, (path, code)
    print(json.dumps(json.loads(buf.getvalue())))
"""

FRAMES = ["train_df", "test_df", "valid_df", "holdout_df", "extra_df"]


def titanic_shaped(path: Path) -> Path:
    """Kale's titanic example in small: frames changed in place through a loop over a list."""
    listed = ", ".join(FRAMES)
    return write_notebook(
        path,
        ("import pandas as pd", "imports"),
        ("\n".join(f"{f} = pd.DataFrame({{'a': [1]}})" for f in FRAMES), "step:load"),
        (
            f"data = [{listed}]\nfor dataset in data:\n    dataset['b'] = dataset['a'] + 1",
            ["step:prep", "prev:load"],
        ),
        (f"print({' + '.join(FRAMES)})", ["step:use", "prev:prep"]),
    )


def analyze_with_seed(seed: str, notebooks: list[Path]) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run(
        [sys.executable, "-c", ANALYZE_ALL, *map(str, notebooks)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def test_analyze_json_does_not_depend_on_the_hash_seed(tmp_path: Path, corpus_dir: Path) -> None:
    notebooks = [
        titanic_shaped(tmp_path / "titanic_shaped.ipynb"),
        corpus_dir / "06_alias_mutation.ipynb",
        corpus_dir / "17_ambiguous_branches.ipynb",
        corpus_dir / "25_pandas.ipynb",
    ]
    runs = {seed: analyze_with_seed(seed, notebooks) for seed in ("1", "2", "3")}
    assert len(runs["1"]) == len(notebooks)
    for seed in ("2", "3"):
        for path, first, other in zip(notebooks, runs["1"], runs[seed], strict=True):
            assert first == other, f"{path.name}: seed 1 and seed {seed} differ"
    # The frames a step changes through the loop are its outputs, sorted by name.
    prep = next(s for s in json.loads(runs["1"][0])["steps"] if s["name"] == "prep")
    assert prep["outputs"][: len(FRAMES)] == sorted(FRAMES)
