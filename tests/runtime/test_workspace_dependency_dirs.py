"""Package folders beside a notebook (node_modules, virtual environments) stay out of steps.

A step's working directory mirrors the notebook folder one link per file, for every step;
a JavaScript project's node_modules (tens of thousands of files) made each step of a
notebook beside it take minutes. Like a virtual environment, it is neither mirrored nor part
of a workspace, and the recorded listing of the notebook folder leaves it out as the step
saw it.
"""

from __future__ import annotations

from pathlib import Path

from kale_like.runtime import reads
from kale_like.runtime import workspace as ws


def _folder(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.csv").write_text("1\n", encoding="utf-8")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("//\n", encoding="utf-8")
    return root


def test_node_modules_is_neither_mirrored_nor_snapshotted(tmp_path: Path) -> None:
    seed = _folder(tmp_path / "seed")
    (seed / "env").mkdir()
    (seed / "env" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    work = tmp_path / "work"
    assert ws.mirror(seed, work) == 1  # data/x.csv only
    assert sorted(p.name for p in work.iterdir()) == ["data"]
    assert set(ws.snapshot(seed)) == {"data", "data/x.csv"}


def test_the_mirrored_listing_leaves_node_modules_out(tmp_path: Path) -> None:
    seed = _folder(tmp_path / "seed")
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    # Folders count by name only: the step's view of the notebook folder is data/ alone.
    assert reads.listing(seed, mirrored=True) == reads.listing(plain, mirrored=True)
    assert reads.listing(seed) != reads.listing(plain)
