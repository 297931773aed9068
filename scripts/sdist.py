"""Find and download a project's sdist from the package index this machine's pip uses.

The index is read from the machine's configuration (``$PIP_INDEX_URL``, else pip's
``global.index-url``, else pip's own default), never written into this repository. The
archive's sha256 is checked against the one the index publishes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request


def index_url() -> str:
    """The simple index pip would use here."""
    url = os.environ.get("PIP_INDEX_URL", "").strip()
    if not url:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
        )
        url = done.stdout.strip() if done.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's own default index

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def sdist(project: str, version: str) -> tuple[str, str]:
    """(url, sha256) of ``project``'s sdist ``version`` from the index's JSON simple API."""
    page = index_url() + project + "/"
    req = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        files = json.load(resp)["files"]
    wanted = {f"{project}-{version}.tar.gz", f"{project.replace('-', '_')}-{version}.tar.gz"}
    for f in files:
        if f["filename"] in wanted:
            return f["url"], f["hashes"]["sha256"]
    raise SystemExit(f"{project} {version}: no sdist on {page}")


def download(project: str, version: str) -> bytes:
    """The sdist's bytes, checked against the index's sha256."""
    url, sha = sdist(project, version)
    with urllib.request.urlopen(url, timeout=300) as resp:
        data = resp.read()
    if hashlib.sha256(data).hexdigest() != sha:
        raise SystemExit(f"{project} {version}: sha256 mismatch for {url}")
    return data
