#!/usr/bin/env python3
"""Fetch Kale's published example notebooks (the sdist of kubeflow-kale on PyPI) for tests.

The notebooks are Kale's, not this project's: they are downloaded into ``.cache/kale/``
(git-ignored), never committed. The file's sha256 is checked against the one the package
index publishes. Usage: ``scripts/fetch_kale_examples.py [VERSION] [DEST]``; prints the
folder holding ``examples/``. Safe to rerun: an existing, complete folder is reused.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdist import download  # noqa: E402


def fetch(version: str, dest: Path) -> Path:
    """Unpack the sdist's ``examples/`` (and Kale's test notebooks) under ``dest/version``."""
    target = dest / version
    if (target / "COMPLETE").exists():
        return target
    data = download("kubeflow-kale", version)
    partial = dest / f".{version}.partial"
    if partial.exists():
        import shutil

        shutil.rmtree(partial)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            # Keep only notebooks and the files beside them; never follow odd paths.
            parts = Path(member.name).parts[1:]
            if not parts or ".." in parts or not (member.isfile() or member.isdir()):
                continue
            if parts[0] != "examples" and not member.name.endswith(".ipynb"):
                continue
            out = partial.joinpath(*parts)
            if member.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is not None:
                out.write_bytes(src.read())
    (partial / "COMPLETE").write_text(version, encoding="utf-8")
    partial.rename(target)
    return target


def main(argv: list[str]) -> int:
    version = argv[1] if len(argv) > 1 else "2.3.0"
    default = Path(__file__).resolve().parent.parent / ".cache" / "kale"
    dest = Path(argv[2]) if len(argv) > 2 else default
    dest.mkdir(parents=True, exist_ok=True)
    print(fetch(version, dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
