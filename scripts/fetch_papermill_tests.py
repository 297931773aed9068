#!/usr/bin/env python3
"""Fetch papermill's own test suite (the sdist of papermill on PyPI) for conformance tests.

The tests are papermill's, not this project's: they are unpacked into ``.cache/papermill/``
(git-ignored), never committed. The archive's sha256 is checked against the one the package
index publishes. Usage: ``scripts/fetch_papermill_tests.py [VERSION] [DEST]``; prints the
unpacked source folder (holding ``papermill/tests``). Safe to rerun: a complete folder is reused.
"""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdist import download  # noqa: E402

DEFAULT_VERSION = "2.7.0"


def fetch(version: str, dest: Path) -> Path:
    """Unpack the sdist's ``papermill/`` package (with its tests) under ``dest/version``."""
    target = dest / version
    if (target / "COMPLETE").exists():
        return target
    data = download("papermill", version)
    partial = dest / f".{version}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            # Only the package (tests and their notebooks live inside it); no odd paths.
            parts = Path(member.name).parts[1:]
            if not parts or ".." in parts or parts[0] != "papermill":
                continue
            if not (member.isfile() or member.isdir()):
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
    version = argv[1] if len(argv) > 1 else DEFAULT_VERSION
    default = Path(__file__).resolve().parent.parent / ".cache" / "papermill"
    dest = Path(argv[2]) if len(argv) > 2 else default
    dest.mkdir(parents=True, exist_ok=True)
    print(fetch(version, dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
