"""run_step in-process with hand-built specs: magics, captured outputs, errors, identity."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from runtime_kit import StepDir, make_spec

from kale_like.errors import RunFailed
from kale_like.runtime import StepFailed, StepOutcome, run_step
from kale_like.runtime.artifacts import load_value


def run(steps: StepDir, spec: dict, *, inputs=None, parameters=None) -> StepOutcome:
    job = steps.job(spec, inputs=inputs, parameters=parameters)
    return run_step(
        spec,
        inputs=job["inputs"],
        state_inputs=job["state_inputs"],
        outputs=job["outputs"],
        state_output=job["state_output"],
        parameters=job["parameters"],
        report_path=job["report_path"],
        notebook_path=job["notebook_path"],
    )


def executed_cells(steps: StepDir, step: str) -> dict[int | None, dict]:
    nb = json.loads((steps.root / step / "step.ipynb").read_text(encoding="utf-8"))
    return {c["metadata"]["kale_like"]["index"]: c for c in nb["cells"]}


def text_of(outputs: list[dict], name: str = "stdout") -> str:
    return "".join(
        "".join(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == name
    )


def test_magics_and_shell_lines(steps: StepDir) -> None:
    # 15_magics: %env, %time with an assignment, !cmd, x = !cmd, %%time.
    spec = make_spec(
        "setup",
        [
            (
                2,
                "%env KALE_TEST_MAGIC=bar\nenv_value = os.environ['KALE_TEST_MAGIC']\n"
                "%time x = 21\n!echo hi\ngreeting = !echo hello\ngreeting_text = greeting[0]\n"
                "ip_ok = get_ipython() is not None",
            ),
            (3, "%%time\ny = x * 2"),
        ],
        imports=[(1, "import os")],
        outputs=["x", "y", "env_value", "greeting_text", "ip_ok"],
        metrics=["y"],
    )
    outcome = run(steps, spec)
    assert outcome.metrics == {"y": 42}
    values = {v: load_value(steps.out("setup", v)) for v in spec["outputs"]}
    assert values == {"x": 21, "y": 42, "env_value": "bar", "greeting_text": "hello", "ip_ok": True}
    cells = executed_cells(steps, "setup")
    assert "hi\n" in text_of(cells[2]["outputs"])
    assert "Wall time" in text_of(cells[3]["outputs"])


def test_rich_outputs_are_captured_per_cell(steps: StepDir) -> None:
    spec = make_spec(
        "show",
        [
            (4, "print('out'); import sys; print('err', file=sys.stderr)\n1 + 1"),
            (5, "from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))"),
            (
                6,
                "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
            ),
            (7, "value = 3;"),
            (8, "1 + 2;"),
            (9, "%matplotlib inline\nfig, ax = plt.subplots()\nax.bar([1], [2]);"),
        ],
    )
    run(steps, spec)
    cells = executed_cells(steps, "show")
    kinds = [o["output_type"] for o in cells[4]["outputs"]]
    assert kinds == ["stream", "stream", "execute_result"]
    assert text_of(cells[4]["outputs"]) == "out\n"
    assert text_of(cells[4]["outputs"], "stderr") == "err\n"
    result = cells[4]["outputs"][2]
    assert "".join(result["data"]["text/plain"]) == "2"
    assert result["execution_count"] == cells[4]["execution_count"]
    html = cells[5]["outputs"][0]
    assert html["output_type"] == "display_data"
    assert "".join(html["data"]["text/html"]) == "<b>x</b>"
    pngs = [o for o in cells[6]["outputs"] if "image/png" in o.get("data", {})]
    assert len(pngs) == 1
    import base64

    assert base64.b64decode(pngs[0]["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert cells[7]["outputs"] == []
    assert cells[8]["outputs"] == []  # a trailing semicolon hides the result
    # a figure left open at the end of a cell is shown, as in a kernel
    assert [o["output_type"] for o in cells[9]["outputs"]] == ["display_data"]
    assert "image/png" in cells[9]["outputs"][0]["data"]


def test_executed_notebook_is_valid_nbformat(steps: StepDir) -> None:
    import nbformat

    spec = make_spec("s", [(3, "print('<script>alert(1)</script>')\nx = 1")], outputs=["x"])
    run(steps, spec, parameters={"alpha": 0.5})
    nb = nbformat.read(steps.root / "s" / "step.ipynb", as_version=4)
    nbformat.validate(nb)
    assert [c.metadata["kale_like"]["index"] for c in nb.cells] == [None, 3]
    assert "".join(nb.cells[0].source) == "alpha = 0.5"
    page = (steps.root / "s" / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_user_error_names_step_cell_and_user_frames_only(steps: StepDir) -> None:
    spec = make_spec(
        "divide",
        [(3, "values = [4, 2, 0]"), (4, "ratios = [ratio(v) for v in values]")],
        functions=[(1, "def ratio(v):\n    return 10 / v")],
        outputs=["ratios"],
    )
    with pytest.raises(StepFailed) as info:
        run(steps, spec)
    err = info.value
    assert isinstance(err, RunFailed) and err.exit_code == 1
    assert str(err) == "step 'divide' failed in cell 5: ZeroDivisionError: division by zero"
    assert (err.step, err.cell, err.exc_type) == ("divide", 4, "ZeroDivisionError")
    assert 'File "<cell 4>", line 1' in err.traceback
    assert 'File "<cell 1>", line 2, in ratio' in err.traceback
    assert "return 10 / v" in err.traceback
    assert "IPython" not in err.traceback and "kale_like" not in err.traceback
    # nothing was saved, and the report shows the error in its cell
    assert not Path(steps.out("divide", "ratios")).exists()
    cells = executed_cells(steps, "divide")
    assert cells[4]["outputs"][-1]["ename"] == "ZeroDivisionError"


def test_syntax_error_reports_the_cell(steps: StepDir) -> None:
    spec = make_spec("bad", [(2, "x = 1"), (5, "def f(:\n    pass")])
    with pytest.raises(StepFailed) as info:
        run(steps, spec)
    assert info.value.cell == 5 and info.value.exc_type == "SyntaxError"


def test_error_in_prelude_reports_its_cell(steps: StepDir) -> None:
    spec = make_spec("s", [(3, "x = 1")], imports=[(0, "import no_such_module_kale")])
    with pytest.raises(StepFailed) as info:
        run(steps, spec)
    assert info.value.cell == 0 and info.value.exc_type == "ModuleNotFoundError"


def test_unsaveable_value_names_variable_type_and_fix(steps: StepDir) -> None:
    spec = make_spec("gen", [(1, "gen = (i for i in range(3))\nok = 1")], outputs=["ok", "gen"])
    with pytest.raises(StepFailed) as info:
        run(steps, spec)
    err = info.value
    assert err.variable == "gen" and err.kind == "unsaveable-value"
    assert "'gen'" in str(err) and "generator" in str(err) and "step 'gen'" in str(err)
    assert err.fix and "list(" in err.fix
    assert not Path(steps.out("gen", "gen")).exists()
    assert not Path(steps.state("gen")).exists()


def test_output_left_unbound_is_absent_not_an_error(steps: StepDir) -> None:
    # Top to bottom, `if flag: y = 1` with flag False leaves y unbound and nothing fails
    # until something reads y: the step succeeds and a reader gets a NameError.
    spec = make_spec("s", [(1, "x = 1\nif flag:\n    y = 2")], outputs=["x", "y"])
    outcome = run(steps, spec, parameters={"flag": False})
    assert set(outcome.outputs) == {"x", "y"}
    assert load_value(steps.out("s", "x")) == 1
    with pytest.raises(LookupError, match="'y' was not defined by step 's'"):
        load_value(steps.out("s", "y"))
    ignores = make_spec("ignores", [(2, "z = x + 1")], inputs=["x", "y"], outputs=["z"])
    ins = {"x": "s", "y": "s"}
    assert run(steps, ignores, inputs=ins).outputs
    assert load_value(steps.out("ignores", "z")) == 2
    reads = make_spec("reads", [(3, "w = x + y")], inputs=["x", "y"], outputs=["w"])
    with pytest.raises(StepFailed) as info:
        run(steps, reads, inputs=ins)
    err = info.value
    assert err.exc_type == "NameError" and err.cell == 3 and err.variable == "y"
    assert "name 'y' is not defined" in str(err) and "step 's' did not assign 'y'" in str(err)


def test_aliases_stay_one_object_across_steps(steps: StepDir) -> None:
    producer = make_spec(
        "make",
        [(1, "b = [1, 2]\na = b\nholder = {'inner': b}\nn = 7\nm = 7")],
        outputs=["a", "b", "holder", "n", "m"],
    )
    digests = run(steps, producer).outputs
    assert set(digests) == {"a", "b", "holder", "n", "m"}
    consumer = make_spec(
        "use",
        [(2, "a.append(3)\nsame = a is b\ninner_same = holder['inner'] is b\nseen = list(b)")],
        inputs=["a", "b", "holder"],
        outputs=["same", "inner_same", "seen"],
    )
    run(steps, consumer, inputs={"a": "make", "b": "make", "holder": "make"})
    got = {v: load_value(steps.out("use", v)) for v in ("same", "inner_same", "seen")}
    assert got == {"same": True, "inner_same": True, "seen": [1, 2, 3]}


def test_inputs_shadow_star_import_and_parameters_bind(steps: StepDir) -> None:
    # 16_star_import: a step's e = 5 must win over math.e from the prelude.
    producer = make_spec("compute", [(2, "e = 5\nr = 2.0")], outputs=["e", "r"])
    run(steps, producer)
    consumer = make_spec(
        "report",
        [(3, "shadow = e * 2\ncirc = round(tau * r, 6)\nscaled = shadow * alpha")],
        imports=[(1, "from math import *")],
        inputs=["e", "r"],
        parameters=["alpha"],
        outputs=["shadow", "circ", "scaled"],
        metrics=["circ"],
    )
    outcome = run(steps, consumer, inputs={"e": "compute", "r": "compute"}, parameters={"alpha": 3})
    assert load_value(steps.out("report", "shadow")) == 10
    assert load_value(steps.out("report", "scaled")) == 30
    assert outcome.metrics == {"circ": round(math.tau * 2.0, 6)}


CLASSES = """
class Counter:
    def __init__(self, start=0):
        self.count = start
        self.history = []

    def add(self, k):
        self.count += k
        self.history.append(k)
        return self


from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: int
"""


def test_instances_of_functions_cell_classes_load_as_the_replayed_class(steps: StepDir) -> None:
    # 12_class_instance: pickled by reference to __main__, so isinstance holds in the consumer.
    create = make_spec(
        "create",
        [(2, "c = Counter(10)\nc.add(1)\np = Point(1, -2)")],
        functions=[(1, CLASSES)],
        outputs=["c", "p"],
    )
    run(steps, create)
    use = make_spec(
        "use",
        [(3, "c.add(5).add(2)\nok = isinstance(c, Counter) and isinstance(p, Point)\nn = c.count")],
        functions=[(1, CLASSES)],
        inputs=["c", "p"],
        outputs=["ok", "n", "c"],
    )
    run(steps, use, inputs={"c": "create", "p": "create"})
    assert load_value(steps.out("use", "ok")) is True
    assert load_value(steps.out("use", "n")) == 18


def test_lambdas_and_closures_travel_by_value(steps: StepDir) -> None:
    # 11_closures: add_offset's global `offset` travels with the lambda.
    build = make_spec(
        "build",
        [
            (
                1,
                "offset = 5\nadd_offset = lambda v: v + offset\n"
                "def make_multiplier(k):\n    def mul(v):\n        return v * k\n    return mul\n"
                "triple = make_multiplier(3)",
            )
        ],
        outputs=["add_offset", "triple"],
    )
    run(steps, build)
    apply = make_spec(
        "apply",
        [(2, "values = [1, 2, 3]\ncompose = lambda v: triple(add_offset(v))")],
        inputs=["add_offset", "triple"],
        outputs=["compose", "values"],
    )
    run(steps, apply, inputs={"add_offset": "build", "triple": "build"})
    use = make_spec(
        "use",
        [(3, "composed = [compose(v) for v in values]")],
        inputs=["compose", "values"],
        outputs=["composed"],
    )
    run(steps, use, inputs={"compose": "apply", "values": "apply"})
    assert load_value(steps.out("use", "composed")) == [18, 21, 24]


def test_outputs_digest_is_content_addressed(steps: StepDir, tmp_path: Path) -> None:
    spec = make_spec("s", [(1, "x = {'a': [1, 2]}\ny = 'text'")], outputs=["x", "y"])
    first = run(steps, spec).outputs
    again = run(StepDir(tmp_path / "other"), spec).outputs
    assert first == again
    changed = make_spec("s", [(1, "x = {'a': [1, 3]}\ny = 'text'")], outputs=["x", "y"])
    third = run(StepDir(tmp_path / "third"), changed).outputs
    assert third["x"] != first["x"] and third["y"] == first["y"]


@pytest.mark.filterwarnings("ignore:To exit")
def test_clean_sys_exit_continues_like_papermill(steps: StepDir) -> None:
    spec = make_spec("s", [(1, "import sys\nx = 1\nsys.exit()"), (2, "y = x + 1")], outputs=["y"])
    run(steps, spec)
    assert load_value(steps.out("s", "y")) == 2
    failing = make_spec("f", [(1, "import sys\nsys.exit(3)")])
    with pytest.raises(StepFailed) as info:
        run(steps, failing)
    assert info.value.exc_type == "SystemExit" and info.value.cell == 1


def test_inside_an_ipython_session_the_users_shell_is_left_alone(steps: StepDir) -> None:
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from traitlets.config import Config\n"
        "c = Config(); c.HistoryManager.enabled = False\n"
        "user = InteractiveShell.instance(config=c)\n"
        "user.run_cell('keep = 42')\n"
        "from kale_like.runtime import run_step\n"
        "spec = {'step': 's', 'pipeline': 'p', 'prelude': {'imports': [], 'functions': []},\n"
        "        'cells': [{'index': 0, 'source': 'x = 1'}], 'outputs': [], 'metrics': ['x']}\n"
        "out = run_step(spec, inputs={}, state_inputs={}, outputs={}, state_output=None,\n"
        "               parameters={})\n"
        "print(out.metrics['x'], user.user_ns['keep'], 'x' in user.user_ns)\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=steps.root.parent,
    )
    assert done.stdout.split() == ["1", "42", "False"]


def test_nbconvert_report_on_request(steps: StepDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALE_LIKE_REPORT", "nbconvert")
    spec = make_spec("s", [(3, "print('<b>hi</b>')")])
    run(steps, spec)
    page = (steps.root / "s" / "report.html").read_text(encoding="utf-8")
    assert "jp-Notebook" in page  # nbconvert's lab template
    assert "&lt;b&gt;hi&lt;/b&gt;" in page


def test_traceback_through_a_magic_shows_what_the_user_wrote(steps: StepDir) -> None:
    spec = make_spec(
        "s",
        [(5, "a = 1\n%time y = f(0)")],
        functions=[(1, "def f(v):\n    return 1 / v")],
    )
    with pytest.raises(StepFailed) as info:
        run(steps, spec)
    tb = info.value.traceback
    assert info.value.cell == 5
    assert 'File "<cell 5>", line 2' in tb and "%time y = f(0)" in tb
    assert "return 1 / v" in tb and "IPython" not in tb and "get_ipython" not in tb


def test_plots_are_captured_after_the_process_imported_pyplot_headless() -> None:
    # An in-process run after other code chose a headless backend (what a test suite or a
    # notebook calling the API does): matplotlib read MPLBACKEND at that import already.
    import subprocess
    import sys

    script = (
        "import json, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([0, 1])\n"
        "from kale_like.runtime.execute import CellRunner\n"
        "cell = 'import matplotlib.pyplot as plt\\nplt.plot([1, 2])\\nplt.show()'\n"
        "res = CellRunner().run(0, cell)\n"
        "print(json.dumps([sorted(o.get('data', {})) for o in res.outputs]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    kinds = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("image/png" in k for k in kinds), (kinds, done.stderr[-2000:])
