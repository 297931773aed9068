"""The local cache is never stale: what a step read from outside its inputs (runtime/reads.py).

Each notebook is built in code; the ground truth is a top-to-bottom run of its code cells
(in a copy of its folder, so files beside it resolve the same way).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nb_kit import cell, write_notebook

from kale_like import api
from kale_like.progress import LineProgress
from kale_like.runtime import read_recorder, reads

PY = sys.executable


def top_to_bottom(nb_path: Path, names: list[str], tmp: Path) -> dict[str, Any]:
    """Every code cell but the metrics cell, in order, in a fresh copy of the folder."""
    work = tmp / "ttb"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(nb_path.parent, work, ignore=shutil.ignore_patterns(".kale_like"))
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    code = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "pipeline-metrics" not in c["metadata"].get("tags", [])
    ]
    script = (
        "import json\nns = {}\n"
        f"for src in {code!r}:\n    exec(compile(src, 'cell', 'exec'), ns)\n"
        f"print(json.dumps({{n: ns[n] for n in {names!r}}}))\n"
    )
    out = subprocess.run([PY, "-c", script], cwd=work, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(nb: Path, root: Path) -> tuple[Any, str]:
    """A local run and its progress output (what the user sees)."""
    out = io.StringIO()
    result = api.run(nb, run_root=root, progress=LineProgress(out))
    assert result.status == "succeeded", {k: v.error for k, v in result.steps.items()}
    return result, out.getvalue()


def statuses(result: Any) -> dict[str, str]:
    return {name: s.status for name, s in result.steps.items()}


def metrics_notebook(folder: Path, *cells: Any, metrics: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_notebook(folder / "nb.ipynb", *cells, cell(metrics, "pipeline-metrics"))


# -- files ----------------------------------------------------------------------------------
def test_edited_data_file_reruns_the_step_and_its_dependants(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "data.csv").write_text("1\n2\n3\n")
    nb = metrics_notebook(
        folder,
        cell("name = 'data' + '.csv'\nrows = [int(x) for x in open(name)]", "step:load"),
        cell("other = 5", "step:other"),
        cell("total = sum(rows) + other", "step:total"),
        metrics="print(total)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["total"], tmp_path) == {"total": 11}
    (folder / "data.csv").write_text("10\n20\n30\n")
    again, shown = run(nb, tmp_path / "root")
    assert statuses(again) == {"load": "succeeded", "other": "cached", "total": "succeeded"}
    assert again.metrics == top_to_bottom(nb, ["total"], tmp_path) == {"total": 65}
    assert "step load re-ran: data.csv changed" in shown
    assert again.steps["load"].notes[0] == "step load re-ran: data.csv changed"


def test_a_file_added_to_a_globbed_folder_reruns(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    (folder / "parts").mkdir(parents=True)
    for i in (1, 2):
        (folder / "parts" / f"p{i}.txt").write_text(str(i))
    nb = metrics_notebook(
        folder,
        cell("import glob\nimport pathlib", "imports"),
        cell("n = sum(int(open(p).read()) for p in sorted(glob.glob('parts/*.txt')))", "step:g"),
        cell("m = len(list(pathlib.Path('parts').glob('*.txt')))", "step:pl"),
        cell("both = n * 100 + m", "step:both"),
        metrics="print(both)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["both"], tmp_path) == {"both": 302}
    (folder / "parts" / "p3.txt").write_text("3")
    again, shown = run(nb, tmp_path / "root")
    assert statuses(again) == {"g": "succeeded", "pl": "succeeded", "both": "succeeded"}
    assert again.metrics == top_to_bottom(nb, ["both"], tmp_path) == {"both": 603}
    assert "step g re-ran: folder parts/ changed (2 -> 3 entries)" in shown


def test_unchanged_reads_are_all_cached(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "k.txt").write_text("7")
    folder = tmp_path / "nb"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "a.txt").write_text("1")
    nb = metrics_notebook(
        folder,
        cell("import os\nimport numpy as np", "imports"),
        cell(f"k = int(open({str(outside / 'k.txt')!r}).read())", "step:abs"),
        cell("names = sorted(os.listdir('d'))\nv = float(np.ones(3).sum())", "step:ls"),
        metrics="print(k)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["k"], tmp_path)
    again, _ = run(nb, tmp_path / "root")
    assert set(statuses(again).values()) == {"cached"}
    # the interpreter's and installed packages' files are not recorded
    rec = api.runs_show(first.run_id, run_root=tmp_path / "root")
    recorded = [p for s in rec["steps"].values() for p in s["reads"]["files"]]
    assert recorded == [str((outside / "k.txt").resolve())]
    assert list(rec["steps"]["ls"]["reads"]["dirs"]) == [str((folder / "d").resolve())]


def test_an_absolute_path_outside_the_notebook_folder_is_checked(tmp_path: Path) -> None:
    outside = tmp_path / "datasets"
    outside.mkdir()
    (outside / "x.txt").write_text("4")
    (outside / "y.txt").write_text("6")
    folder = tmp_path / "nb"
    nb = metrics_notebook(
        folder,
        cell("import os", "imports"),
        cell(f"x = int(open({str(outside / 'x.txt')!r}).read())", "step:absolute"),
        # a relative path after os.chdir: the file is where the working directory was then
        cell(
            f"here = os.getcwd()\nos.chdir({str(outside)!r})\n"
            "y = int(open('y.txt').read())\nos.chdir(here)",
            "step:chdir",
        ),
        cell("xy = x * 10 + y", "step:sum"),
        metrics="print(xy)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["xy"], tmp_path) == {"xy": 46}
    (outside / "y.txt").write_text("9")
    again, shown = run(nb, tmp_path / "root")
    assert statuses(again) == {"absolute": "cached", "chdir": "succeeded", "sum": "succeeded"}
    assert again.metrics == top_to_bottom(nb, ["xy"], tmp_path) == {"xy": 49}
    assert f"step chdir re-ran: {outside.resolve() / 'y.txt'} changed" in shown


def test_an_edited_library_outside_the_notebook_folder_reruns_its_importers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. an editable install or PYTHONPATH: no package version changes when it is edited
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mylib.py").write_text("K = 3\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")]))
    nb = metrics_notebook(
        tmp_path / "nb",
        cell("import mylib", "imports"),
        cell("v = mylib.K", "step:uses"),
        cell("w = 1", "step:plain"),
        metrics="print(v)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["v"], tmp_path) == {"v": 3}
    (lib / "mylib.py").write_text("K = 40\n")
    again, shown = run(nb, tmp_path / "root")
    assert again.metrics == top_to_bottom(nb, ["v"], tmp_path) == {"v": 40}
    assert statuses(again)["uses"] == "succeeded"
    assert f"step uses re-ran: {(lib / 'mylib.py').resolve()} changed" in shown


def test_files_the_step_wrote_itself_are_not_reads(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    folder = tmp_path / "nb"
    target = str(scratch / "tmp.txt")
    nb = metrics_notebook(
        folder,
        cell(
            f"open({target!r}, 'w').write('12')\nv = int(open({target!r}).read())\n"
            "open('local.txt', 'w').write('x')\nw = open('local.txt').read()",
            "step:own",
        ),
        cell("u = v + len(w)", "step:use"),
        metrics="print(u)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == {"u": 13}
    rec = api.runs_show(first.run_id, run_root=tmp_path / "root")
    assert rec["steps"]["own"]["reads"]["files"] == {}
    again, _ = run(nb, tmp_path / "root")
    assert set(statuses(again).values()) == {"cached"}


def test_files_handed_between_steps_are_not_outside_reads(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    nb = metrics_notebook(
        folder,
        cell("open('made.txt', 'w').write('3')", "step:make"),
        cell("n = int(open('made.txt').read())", "step:read", "prev:make"),
        metrics="print(n)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["n"], tmp_path) == {"n": 3}
    rec = api.runs_show(first.run_id, run_root=tmp_path / "root")
    assert rec["steps"]["read"]["reads"]["files"] == {}


# -- network and subprocesses ---------------------------------------------------------------
class _Answer(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(str(self.server.value).encode())  # type: ignore[attr-defined]


@pytest.fixture()
def server() -> Iterator[Any]:
    """A tiny TCP server on 127.0.0.1 that answers every connection with ``server.value``."""
    srv = socketserver.TCPServer(("127.0.0.1", 0), _Answer)
    srv.value = 5  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def socket_notebook(folder: Path, port: int, *tags: str) -> Path:
    fetch = (
        "import socket\n"
        f"with socket.create_connection(('127.0.0.1', {port})) as s:\n"
        "    got = int(s.recv(64))"
    )
    return metrics_notebook(
        folder,
        cell(fetch, "step:fetch", *tags),
        cell("local = 2", "step:local"),
        cell("result = got * local", "step:combine"),
        metrics="print(result)",
    )


def test_a_step_that_opens_a_socket_reruns_with_the_reason_shown(
    tmp_path: Path, server: Any
) -> None:
    port = server.server_address[1]
    nb = socket_notebook(tmp_path / "nb", port)
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["result"], tmp_path) == {"result": 10}
    server.value = 7  # what a top-to-bottom run would now get
    again, shown = run(nb, tmp_path / "root")
    assert statuses(again) == {"fetch": "succeeded", "local": "cached", "combine": "succeeded"}
    assert again.metrics == top_to_bottom(nb, ["result"], tmp_path) == {"result": 14}
    why = (
        f"step fetch re-ran: it opened a network connection (127.0.0.1:{port}) "
        "(cache:enabled to reuse)"
    )
    assert why in shown
    rec = api.runs_show(again.run_id, run_root=tmp_path / "root")
    assert rec["steps"]["fetch"]["reads"]["network"] == [f"127.0.0.1:{port}"]
    assert rec["steps"]["fetch"]["rerun_reason"] == why


def test_cache_enabled_reuses_a_step_that_used_the_network(tmp_path: Path, server: Any) -> None:
    nb = socket_notebook(tmp_path / "nb", server.server_address[1], "cache:enabled")
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == {"result": 10}
    again, shown = run(nb, tmp_path / "root")
    assert set(statuses(again).values()) == {"cached"}
    assert "re-ran" not in shown


def test_a_step_that_starts_a_subprocess_reruns(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "n.txt").write_text("8")
    nb = metrics_notebook(
        folder,
        cell(
            "import subprocess, sys\n"
            "out = subprocess.run([sys.executable, '-c', 'print(open(\"n.txt\").read())'],\n"
            "                     capture_output=True, text=True, check=True).stdout\n"
            "n = int(out)",
            "step:shell",
        ),
        cell("plain = 1", "step:plain"),
        metrics="print(n)",
    )
    first, _ = run(nb, tmp_path / "root")
    assert first.metrics == top_to_bottom(nb, ["n"], tmp_path) == {"n": 8}
    # the child read n.txt: no audit hook sees that, the subprocess rule does
    (folder / "n.txt").write_text("9")
    again, shown = run(nb, tmp_path / "root")
    assert statuses(again) == {"shell": "succeeded", "plain": "cached"}
    assert again.metrics == top_to_bottom(nb, ["n"], tmp_path) == {"n": 9}
    assert "step shell re-ran: it started a subprocess (" in shown
    assert "(cache:enabled to reuse)" in shown


# -- lineage and the switch -----------------------------------------------------------------
def test_runs_show_lists_each_steps_reads(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "a.txt").write_text("1")
    (folder / "data.csv").write_text("3\n")
    nb = metrics_notebook(
        folder,
        cell("import os\nv = int(open('data.csv').read()) + len(os.listdir('d'))", "step:s"),
        metrics="print(v)",
    )
    first, _ = run(nb, tmp_path / "root")
    rec = api.runs_show(first.run_id, run_root=tmp_path / "root")
    files = rec["steps"]["s"]["reads"]["files"]
    assert files == {str((folder / "data.csv").resolve()): reads.fingerprint(folder / "data.csv")}
    cli = [
        PY,
        "-m",
        "kale_like",
        "runs",
        "show",
        first.run_id,
        "--run-root",
        str(tmp_path / "root"),
    ]
    text = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    assert "read data.csv (sha256 " in text and "listed d/ (1 entries)" in text
    as_json = subprocess.run([*cli, "--json"], capture_output=True, text=True, check=True).stdout
    assert json.loads(as_json)["steps"]["s"]["reads"]["files"] == files


def test_recording_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(reads.ENV_SWITCH, "0")
    outside = tmp_path / "outside.txt"
    outside.write_text("1")
    nb = metrics_notebook(
        tmp_path / "nb",
        cell(f"k = int(open({str(outside)!r}).read())", "step:s"),
        metrics="print(k)",
    )
    first, _ = run(nb, tmp_path / "root")
    rec = api.runs_show(first.run_id, run_root=tmp_path / "root")
    assert rec["steps"]["s"]["reads"] == {}
    outside.write_text("2")
    again, _ = run(nb, tmp_path / "root")
    assert statuses(again) == {"s": "cached"}  # documented: nothing recorded, nothing checked


# -- the recorder in this process -----------------------------------------------------------
def test_recorder_sees_reads_listings_and_leaves_out_its_own_writes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    (data / "b.bin").write_bytes(b"b")
    work = tmp_path / "work"
    work.mkdir()
    rec = read_recorder.Recorder(str(work)).start()
    here = os.getcwd()
    try:
        os.chdir(data)
        open("a.txt").read()
        os.close(os.open("b.bin", os.O_RDONLY))
        sorted(os.scandir("."), key=lambda e: e.name)
        open("new.txt", "w").write("mine")
        open("new.txt").read()
        import json as _json  # noqa: F401  (already imported: nothing is read)
    finally:
        os.chdir(here)
        got = rec.stop()
    assert got.files == {
        str((data / "a.txt").resolve()): reads.fingerprint(data / "a.txt"),
        str((data / "b.bin").resolve()): reads.fingerprint(data / "b.bin"),
    }
    assert list(got.dirs) == [str(data.resolve())]
    assert got.network == [] and got.processes == []
    open(data / "a.txt").read()  # after stop(): not recorded
    assert str(data / "late.txt") not in rec.files


def test_stale_reason_names_what_changed(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("1")
    d = tmp_path / "d"
    d.mkdir()
    recorded = {"files": {str(f): reads.fingerprint(f)}, "dirs": {str(d): reads.listing(d)}}
    assert reads.stale_reason(recorded, base=tmp_path) is None
    (d / "new").write_text("")
    assert reads.stale_reason(recorded, base=tmp_path) == "folder d/ changed (0 -> 1 entries)"
    f.write_text("2")
    assert reads.stale_reason(recorded, base=tmp_path) == "f.txt changed"
    f.unlink()
    assert reads.stale_reason(recorded, base=tmp_path) == "f.txt was deleted"
    net = {"network": ["example.org:443"]}
    assert "network connection (example.org:443)" in str(reads.stale_reason(net))
    assert reads.stale_reason(net, allow_external=True) is None


def test_large_files_are_fingerprinted_by_size_mtime_and_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "HASH_LIMIT", 10)
    monkeypatch.setattr(reads, "EDGE", 4)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef")
    fp = reads.fingerprint(big)
    assert fp.startswith("large:16:")
    st = big.stat()
    with open(big, "r+b") as fh:  # same size, same mtime, a changed first byte
        fh.write(b"X")
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert reads.fingerprint(big) != fp
