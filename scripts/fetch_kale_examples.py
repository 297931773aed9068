#!/usr/bin/env python3
"""Fetch Kale's published example notebooks (the sdist of kubeflow-kale on PyPI) for tests.

The notebooks are Kale's, not this project's: they are downloaded into ``.cache/kale/``
(git-ignored), never committed. The file's sha256 is checked against the one the package
index publishes. Usage: ``scripts/fetch_kale_examples.py [VERSION] [DEST]``; prints the
folder holding ``examples/``. Safe to rerun: an existing, complete folder is reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple/kubeflow-kale/"


def _sdist(version: str) -> tuple[str, str]:
    """(url, sha256) of the sdist of ``version`` from the index's JSON simple API."""
    req = urllib.request.Request(INDEX, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        files = json.load(resp)["files"]
    for f in files:
        name = f["filename"].replace("_", "-")
        if name == f"kubeflow-kale-{version}.tar.gz":
            return f["url"], f["hashes"]["sha256"]
    raise SystemExit(f"kubeflow-kale {version}: no sdist on {INDEX}")


def fetch(version: str, dest: Path) -> Path:
    """Unpack the sdist's ``examples/`` (and Kale's test notebooks) under ``dest/version``."""
    target = dest / version
    if (target / "COMPLETE").exists():
        return target
    url, sha = _sdist(version)
    with urllib.request.urlopen(url, timeout=300) as resp:
        data = resp.read()
    if hashlib.sha256(data).hexdigest() != sha:
        raise SystemExit(f"kubeflow-kale {version}: sha256 mismatch for {url}")
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
    (partial / "COMPLETE").write_text(sha, encoding="utf-8")
    partial.rename(target)
    return target


def main(argv: list[str]) -> int:
    version = argv[1] if len(argv) > 1 else "2.3.0"
    dest = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parent.parent / ".cache" / "kale"
    dest.mkdir(parents=True, exist_ok=True)
    print(fetch(version, dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
