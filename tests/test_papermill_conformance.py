"""papermill's own tests, with ``kale_like`` swapped in as papermill's default engine.

papermill 2.7.0's sdist is downloaded from the package index (sha256 checked) into
``.cache/papermill`` by ``scripts/fetch_papermill_tests.py`` — papermill's code is never
committed. Its ``test_execute.py``, ``test_autosave.py`` and ``test_cli.py`` (none needs
cloud storage) then run in a pytest subprocess with ``KALE_LIKE_PAPERMILL_DEFAULT=1``, which
registers this engine under papermill's default name in that process and in every
``python -m papermill`` the CLI tests start. A plugin checks that the swap took effect and
that the engine really ran. CI requires the download (``KALE_LIKE_REQUIRE_PAPERMILL_TESTS=1``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from extras import require

require("papermill")

ROOT = Path(__file__).resolve().parent.parent
VERSION = "2.7.0"
FILES = ["test_execute.py", "test_autosave.py", "test_cli.py"]
T = "papermill/tests/"

# Tests that only mock the default engine's kernel client: they patch
# ``papermill.engines.PapermillNotebookClient`` and inspect the arguments it was built with.
# kale_like builds its own nbclient client, so the mock is never called.
MOCK_ONLY = {
    T + "test_execute.py::TestNotebookHelpers::test_start_timeout": (
        "asserts the startup_timeout passed to papermill's PapermillNotebookClient mock"
    ),
    T + "test_execute.py::TestNotebookHelpers::test_default_start_timeout": (
        "asserts the default startup_timeout passed to papermill's PapermillNotebookClient mock"
    ),
}
# Tests that fail with papermill's own default engine in this environment, for a reason
# that is not the engine's. Each must fail under both engines (checked below), so the list
# cannot hide a failure of ours.
BROKEN_UPSTREAM = {
    T + "test_execute.py::TestBrokenNotebook2::test": (
        "broken2.ipynb does `from IPython.core.display import display`, which IPython 9 "
        "removed: the cell raises ImportError before its display_data output"
    ),
}

PLUGIN = '''
"""Checks the engine swap, and counts the runs kale_like's engine did in this process."""
import os
import papermill.engines
from kale_like.papermill_engine import KaleLikeEngine

_original = KaleLikeEngine.execute_managed_notebook.__func__

def _counted(cls, nb_man, kernel_name, **kwargs):
    # One line per run, written at once: pytest-xdist may end a worker process before its
    # pytest_unconfigure runs, so a count kept until then can be lost.
    path = os.path.join(os.environ["SWAP_REPORT"], f"{os.getpid()}.runs")
    with open(path, "a") as fh:
        fh.write(f"{kernel_name}\\n")
    return _original(cls, nb_man, kernel_name, **kwargs)

def pytest_configure(config):
    KaleLikeEngine.execute_managed_notebook = classmethod(_counted)
    swapped = papermill.engines.papermill_engines.get_engine(None) is KaleLikeEngine
    want = os.environ.get("KALE_LIKE_PAPERMILL_DEFAULT") == "1"
    assert swapped == want, f"default engine swapped: {swapped}, expected {want}"
'''


@pytest.fixture(scope="session")
def papermill_sdist() -> Path:
    folder = ROOT / ".cache" / "papermill" / VERSION
    if not (folder / "COMPLETE").exists():
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "fetch_papermill_tests.py"), VERSION],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not (folder / "COMPLETE").exists():
            if os.environ.get("KALE_LIKE_REQUIRE_PAPERMILL_TESTS") == "1":
                pytest.fail(f"papermill's sdist could not be fetched: {proc.stderr[-500:]}")
            pytest.skip("papermill's sdist is not available (no network to the package index)")
    return folder


def _run(
    sdist: Path, tmp: Path, tests: list[str], *, swap: bool, deselect: list[str]
) -> tuple[dict[str, str], int, str]:
    """Run papermill's tests in a subprocess: (outcome per test id, engine runs, output)."""
    (tmp / "swap_plugin.py").write_text(PLUGIN, encoding="utf-8")
    ini = tmp / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")  # not this project's pytest settings
    junit = tmp / "junit.xml"
    report = tmp / "swap"
    report.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp), str(sdist)]),
        "SWAP_REPORT": str(report),
        "KALE_LIKE_PAPERMILL_DEFAULT": "1" if swap else "0",
        "KALE_LIKE_RUN_ROOT": str(tmp / "kale-runs"),
    }
    argv = [
        sys.executable, "-m", "pytest", "-q", "-c", str(ini), "--rootdir", str(sdist),
        "-p", "swap_plugin", "-p", "no:cacheprovider", f"--junitxml={junit}",
        *(["-n", "2"] if len(tests) > 1 else []),
        *[a for test in deselect for a in ("--deselect", test)],
        *tests,
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=sdist, env=env, capture_output=True, text=True, timeout=600)
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        # classname is papermill.tests.test_x[.Class]; turn it into the node id.
        parts = case.get("classname", "").split(".")
        path = "/".join(parts[:3]) + ".py"
        klass = "::".join(parts[3:])
        node = f"{path}::{klass}::{case.get('name')}" if klass else f"{path}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[node] = (
            "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds
            else "passed"
        )  # fmt: skip
    runs = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in report.glob("*.runs"))
    return outcomes, runs, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_papermills_own_tests_pass_with_kale_like_as_default(
    papermill_sdist: Path, tmp_path: Path
) -> None:
    outcomes, runs, output = _run(
        papermill_sdist,
        tmp_path,
        [T + name for name in FILES],
        swap=True,
        deselect=list(MOCK_ONLY),
    )
    assert len(outcomes) > 80, output  # the three files hold 93 tests
    assert runs > 20, f"kale_like ran only {runs} notebooks: was it the default engine?"
    failed = sorted(n for n, o in outcomes.items() if o == "failed")
    assert failed == sorted(BROKEN_UPSTREAM), output
    assert not [n for n, o in outcomes.items() if o == "skipped"], output


@pytest.mark.slow
def test_the_upstream_breakage_is_papermills_own(papermill_sdist: Path, tmp_path: Path) -> None:
    outcomes, runs, output = _run(
        papermill_sdist, tmp_path, sorted(BROKEN_UPSTREAM), swap=False, deselect=[]
    )
    assert runs == 0
    assert outcomes == dict.fromkeys(BROKEN_UPSTREAM, "failed"), output
