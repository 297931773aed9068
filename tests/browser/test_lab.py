"""The JupyterLab extension in a real browser: start `jupyter lab` on 127.0.0.1 with the built
extension, run the Playwright specs of labextension/ui-tests in Debian's headless Chromium.

Skipped (with the reason) when Chromium, the built extension or the node packages are
missing, unless KALE_LIKE_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KALE_LIKE_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = ROOT / "node_modules" / ".bin" / "playwright"
LABEXTENSION = ROOT / "kale_like" / "labextension" / "package.json"
OUTPUT = ROOT / "test-output"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if not LABEXTENSION.exists():
        return "the JupyterLab extension is not built (jlpm build)"
    if not PLAYWRIGHT.exists():
        return "node packages are not installed (jlpm install)"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


@pytest.fixture(scope="module")
def requirements() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("KALE_LIKE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but cannot run: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def pipeline_notebook() -> nbformat.NotebookNode:
    """load -> report, with cell 3 joining `load` until the test makes it a step."""
    return v4.new_notebook(
        metadata={**KERNEL, "kubeflow_notebook": {"pipeline_name": "browser-test"}},
        cells=[
            code("import math", "imports"),
            code("n = 5", "pipeline-parameters"),
            code("xs = [i * i for i in range(n)]", "step:load"),
            code("total = sum(xs)\nbiggest = max(xs)"),
            code("ratio = total / biggest", "step:report"),
            code("print(ratio)", "pipeline-metrics"),
        ],
    )


def kale_notebook(keyword: str) -> nbformat.NotebookNode:
    """A notebook as Kale 0.7 (``block:``) or 2.3 (``step:``) writes it, with an empty step
    tag continuing ``load``; the browser test edits it and checks the spelling is kept."""
    return v4.new_notebook(
        metadata=KERNEL,
        cells=[
            code("import math", "imports"),
            code("xs = [1, 2, 3]", f"{keyword}:load"),
            code("xs.append(4)", f"{keyword}:"),
            code("total = sum(xs)", f"{keyword}:report", "prev:load"),
        ],
    )


def failing_notebook() -> nbformat.NotebookNode:
    """The second step divides by zero (cell 2)."""
    return v4.new_notebook(
        metadata={**KERNEL, "kubeflow_notebook": {"pipeline_name": "failing"}},
        cells=[
            code("x = 0", "step:start"),
            v4.new_markdown_cell("Then divide:"),
            code("y = 1 / x", "step:divide"),
        ],
    )


def dag_notebook() -> nbformat.NotebookNode:
    """``a -> b -> c`` plus ``a -> c`` skipping a level (two variables), ``b -> c`` with a
    variable and a file hand-off, and ``c`` naming ``a`` in a ``prev:`` tag (for renames)."""
    return v4.new_notebook(
        metadata={**KERNEL, "kubeflow_notebook": {"pipeline_name": "dag"}},
        cells=[
            code("import statistics", "imports"),
            code(
                "xs = [1.0, 2.0, 4.0]\nmean = sum(xs) / len(xs)\nstdev = statistics.pstdev(xs)",
                "step:a",
            ),
            code(
                "counts = {x: xs.count(x) for x in xs}\n"
                "with open('counts.txt', 'w') as f:\n    f.write(str(len(counts)))",
                "step:b",
            ),
            code(
                "with open('counts.txt') as f:\n    n = int(f.read())\n"
                "summary = (mean, stdev, counts, n)",
                "step:c",
                "prev:a",
            ),
        ],
    )


def settings_notebook() -> nbformat.NotebookNode:
    """A step with setting tags the grammar refuses (as an old editor wrote them), one of them
    (``toleration:oops``) of a kind the dialog has no field for."""
    return v4.new_notebook(
        metadata={**KERNEL, "kubeflow_notebook": {"pipeline_name": "settings"}},
        cells=[
            code(
                "x = 1",
                "step:train",
                "retry:two",
                "limit:memory:lots",
                "limit:cpu:500m",
                "toleration:oops",
            ),
            code("y = x + 1", "step:report"),
        ],
    )


def cancel_notebook(gate: Path) -> nbformat.NotebookNode:
    """``wait`` runs until the test creates ``gate`` (outside the server root); ``after``
    follows it. The test cancels while ``wait`` runs."""
    return v4.new_notebook(
        metadata={**KERNEL, "kubeflow_notebook": {"pipeline_name": "cancel"}},
        cells=[
            code(
                "import os, time\n"
                f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\nz = 1",
                "step:wait",
            ),
            code("w = z + 1", "step:after"),
        ],
    )


def untagged_notebook() -> nbformat.NotebookNode:
    """No tags at all: the browser test runs "Pipeline: Suggest steps" on it, compares the
    tags it applies with `kale-like suggest --json` and undoes them."""
    return v4.new_notebook(
        metadata=KERNEL,
        cells=[
            code("import statistics"),
            code("xs = [float(i) for i in range(10)]"),
            code("mean = statistics.mean(xs)"),
            code("stdev = statistics.pstdev(xs)"),
            code("print(mean, stdev)"),
        ],
    )


def widgets_notebook() -> nbformat.NotebookNode:
    return v4.new_notebook(
        metadata=KERNEL,
        cells=[code('from kale_like.widgets import DeployPanel\nDeployPanel("pipeline.ipynb")')],
    )


@pytest.fixture(scope="module")
def lab(requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    nbformat.write(pipeline_notebook(), root / "pipeline.ipynb")
    nbformat.write(widgets_notebook(), root / "widgets.ipynb")
    nbformat.write(failing_notebook(), root / "failing.ipynb")
    nbformat.write(kale_notebook("block"), root / "kale07.ipynb")
    nbformat.write(kale_notebook("step"), root / "kale23.ipynb")
    nbformat.write(dag_notebook(), root / "dag.ipynb")
    nbformat.write(settings_notebook(), root / "settings.ipynb")
    nbformat.write(untagged_notebook(), root / "untagged.ipynb")
    gate = base / "cancel.gate"
    nbformat.write(cancel_notebook(gate), root / "cancel.ipynb")
    # User settings: no news/update toast over the UI.
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    log = (base / "lab.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
    ]
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "kale-like/runs", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(
                    "jupyter lab did not start with the kale-like server extension:\n"
                    + (base / "lab.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield {"url": url, "root": str(root), "log": str(base / "lab.log"), "gate": str(gate)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_lab_extension_in_chromium(lab: dict[str, str]) -> None:
    """All Playwright specs pass (cell editor, DAG, run, diagnostics, keyboard, widgets)."""
    env = {
        **os.environ,
        "KALE_LIKE_LAB_URL": lab["url"],
        "KALE_LIKE_ROOT": lab["root"],
        "KALE_LIKE_GATE": lab["gate"],
        "KALE_LIKE_CHROMIUM": CHROMIUM,
        # The suggest spec compares with `kale-like suggest --json` run by this interpreter.
        "KALE_LIKE_PYTHON": sys.executable,
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    proc = subprocess.run(
        [str(PLAYWRIGHT), "test", "-c", "labextension/ui-tests/playwright.config.ts"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "playwright.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = Path(lab["log"]).read_text()[-2000:]
        pytest.fail(
            f"Playwright failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}\n"
            f"--- jupyter lab log ---\n{tail}"
        )
    shots = (
        "panel.png",
        "cell-editor.png",
        "cell-diagnostic.png",
        "sweep-dialog.png",
        "widgets.png",
        "report-tab.png",
        "settings-invalid.png",
        "cancelling.png",
        "dag.png",
        "dag-stale.png",
        "step-editor.png",
        "suggest-dialog.png",
        "dag-graph.png",
        "sweep-katib.png",
        "volumes.png",
    )
    for shot in shots:
        assert (OUTPUT / "screenshots" / shot).stat().st_size > 1000, shot
