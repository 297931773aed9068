"""Process-global state carried between steps that run in separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runtime_kit import StepDir, corpus_cells, make_spec

from kale_like.runtime.artifacts import load_value


def entry(manifest: list[dict[str, Any]], file: str) -> dict[str, Any]:
    return next(e for e in manifest if e["file"] == file)


def run_chain(steps: StepDir, chain: list[tuple[dict, dict, dict, dict]]) -> dict[str, dict]:
    """Run (spec, inputs, state_inputs, parameters) one process each; return their results."""
    results = {}
    for spec, inputs, state_inputs, params in chain:
        job = steps.job(spec, inputs=inputs, state_inputs=state_inputs, parameters=params)
        code, result = steps.run_process(job)
        assert code == 0, result
        results[spec["step"]] = result
    return results


def test_corpus_09_seeds_continue_the_rng_sequence(
    steps: StepDir, corpus_dir: Path, manifest: list[dict[str, Any]]
) -> None:
    nb = corpus_cells(corpus_dir / "09_seeds.ipynb")
    truth = entry(manifest, "09_seeds.ipynb")
    params = nb["parameters"]

    def spec(step: str, inputs: list[str], outputs: list[str], metrics=()) -> dict:
        return make_spec(
            step,
            nb["steps"][step],
            imports=nb["imports"],
            inputs=inputs,
            outputs=outputs,
            parameters=list(params),
            metrics=list(metrics),
            state_inputs=["random"] if step != "seed" else [],
        )

    chain = [
        (spec("seed", [], ["first"]), {}, {}, params),
        (spec("draw", [], ["draws"]), {}, {"random": "seed"}, params),
        (spec("draw_more", [], ["shuffled", "choice"]), {}, {"random": "draw"}, params),
        (
            spec("report", ["first", "draws", "shuffled", "choice"], ["signature"], ["checksum"]),
            {"first": "seed", "draws": "draw", "shuffled": "draw_more", "choice": "draw_more"},
            {"random": "draw_more"},
            params,
        ),
    ]
    results = run_chain(steps, chain)
    assert results["report"]["metrics"] == truth["metrics"]
    finals = truth["final_values"]
    assert load_value(steps.out("seed", "first")) == finals["first"]
    assert load_value(steps.out("draw", "draws")) == finals["draws"]
    assert load_value(steps.out("draw_more", "shuffled")) == finals["shuffled"]
    assert load_value(steps.out("draw_more", "choice")) == finals["choice"]
    assert load_value(steps.out("report", "signature")) == finals["signature"]


def test_corpus_28_environ_sys_path_warnings(
    steps: StepDir, corpus_dir: Path, manifest: list[dict[str, Any]]
) -> None:
    nb = corpus_cells(corpus_dir / "28_global_state.ipynb")
    truth = entry(manifest, "28_global_state.ipynb")
    kinds = ["os.environ", "sys.path", "warnings"]
    chain = [
        (make_spec("configure", nb["steps"]["configure"], imports=nb["imports"]), {}, {}, {}),
        (
            make_spec(
                "check",
                nb["steps"]["check"],
                imports=nb["imports"],
                state_inputs=kinds,
                outputs=["flag", "extra_on_path", "warned_as_error"],
            ),
            {},
            {k: "configure" for k in kinds},
            {},
        ),
        (
            make_spec(
                "report",
                nb["steps"]["report"],
                imports=nb["imports"],
                inputs=["flag", "extra_on_path", "warned_as_error"],
                metrics=["state_score"],
            ),
            {"flag": "check", "extra_on_path": "check", "warned_as_error": "check"},
            {},
            {},
        ),
    ]
    results = run_chain(steps, chain)
    assert results["report"]["metrics"] == truth["metrics"]
    for name, value in truth["final_values"].items():
        assert load_value(steps.out("check", name)) == value


NUMPY_PROGRAM = [
    "np.random.seed(3)\nrandom.seed(4)\na = np.random.rand(3).tolist()",
    "b = np.random.rand(2).tolist()\nr = random.random()",
    "c = np.random.randint(0, 100, 4).tolist()\ns = random.random()",
]


def test_numpy_and_random_state_matches_one_process_run(steps: StepDir) -> None:
    # Ground truth: the same cells top to bottom in one fresh interpreter.
    body = "\n".join(NUMPY_PROGRAM)
    program = (
        f"import numpy as np\nimport random\n{body}\n"
        "import json\nprint(json.dumps([a, b, r, c, s]))"
    )
    truth = json.loads(
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        ).stdout
    )
    kinds = ["random", "numpy.random"]
    imports = [(0, "import numpy as np\nimport random")]
    chain = [
        (make_spec("one", [(1, NUMPY_PROGRAM[0])], imports=imports, outputs=["a"]), {}, {}, {}),
        (
            make_spec(
                "two",
                [(2, NUMPY_PROGRAM[1])],
                imports=imports,
                outputs=["b", "r"],
                state_inputs=kinds,
            ),
            {},
            {k: "one" for k in kinds},
            {},
        ),
        (
            make_spec(
                "three",
                [(3, NUMPY_PROGRAM[2])],
                imports=imports,
                outputs=["c", "s"],
                state_inputs=kinds,
            ),
            {},
            {k: "two" for k in kinds},
            {},
        ),
    ]
    run_chain(steps, chain)
    got = [
        load_value(steps.out(s, v))
        for s, v in [("one", "a"), ("two", "b"), ("two", "r"), ("three", "c"), ("three", "s")]
    ]
    assert got == truth


def test_cwd_and_environ_deletion_and_user_warning_category(steps: StepDir) -> None:
    (steps.root / "sub").mkdir(parents=True)
    classes = [(1, "class MyWarning(UserWarning):\n    pass")]
    imports = [(0, "import os\nimport sys\nimport warnings")]
    first = make_spec(
        "first",
        [
            (
                2,
                "os.chdir('sub')\nos.environ.pop('KALE_DROP_ME', None)\n"
                "os.environ['KALE_NEW'] = 'v'\nsys.path.insert(0, 'front_dir')\n"
                "warnings.simplefilter('error', MyWarning)",
            )
        ],
        imports=imports,
        functions=classes,
    )
    kinds = ["cwd", "os.environ", "sys.path", "warnings"]
    second = make_spec(
        "second",
        [
            (
                3,
                "here = os.path.basename(os.getcwd())\ndropped = 'KALE_DROP_ME' not in os.environ\n"
                "new = os.environ.get('KALE_NEW')\nfront = sys.path[0]\n"
                "try:\n    warnings.warn('x', MyWarning)\n    raised = False\n"
                "except MyWarning:\n    raised = True",
            )
        ],
        imports=imports,
        functions=classes,
        state_inputs=kinds,
        outputs=["here", "dropped", "new", "front", "raised"],
    )
    import os

    os.environ["KALE_DROP_ME"] = "1"  # restored by the autouse fixture
    run_chain(steps, [(first, {}, {}, {}), (second, {}, {k: "first" for k in kinds}, {})])
    got = {v: load_value(steps.out("second", v)) for v in second["outputs"]}
    assert got == {"here": "sub", "dropped": True, "new": "v", "front": "front_dir", "raised": True}


def test_kinds_not_taken_are_not_applied(steps: StepDir) -> None:
    imports = [(0, "import os")]
    first = make_spec("first", [(1, "os.environ['KALE_ONLY_IF_TAKEN'] = '1'")], imports=imports)
    second = make_spec(
        "second",
        [(2, "seen = os.environ.get('KALE_ONLY_IF_TAKEN')")],
        imports=imports,
        outputs=["seen"],
    )
    run_chain(steps, [(first, {}, {}, {}), (second, {}, {}, {})])
    assert load_value(steps.out("second", "seen")) is None


def test_failed_step_process_writes_error_json(steps: StepDir) -> None:
    spec = make_spec("divide", [(3, "ratios = [10 / v for v in [4, 2, 0]]")], outputs=["ratios"])
    code, result = steps.run_process(steps.job(spec))
    assert code == 1 and result["status"] == "failed"
    err = result["error"]
    assert (err["step"], err["cell"], err["exc_type"]) == ("divide", 3, "ZeroDivisionError")
    assert err["message"] == "step 'divide' failed in cell 4: ZeroDivisionError: division by zero"
    assert err["summary"] == "ZeroDivisionError: division by zero"
    assert "<cell 3>" in err["traceback"] and "kale_like" not in err["traceback"]


def test_pandas_options_and_matplotlib_rc(steps: StepDir) -> None:
    imports = [(0, "import pandas as pd\nimport matplotlib\nimport matplotlib.pyplot as plt")]
    kinds = ["pandas.options", "matplotlib.rc"]
    first = make_spec(
        "first",
        [
            (
                1,
                "pd.set_option('display.max_rows', 7)\nplt.style.use('ggplot')\n"
                "matplotlib.rcParams['lines.linewidth'] = 3.5",
            )
        ],
        imports=imports,
    )
    second = make_spec(
        "second",
        [
            (
                2,
                "rows = pd.get_option('display.max_rows')\n"
                "width = matplotlib.rcParams['lines.linewidth']\n"
                "face = matplotlib.rcParams['axes.facecolor']",
            )
        ],
        imports=imports,
        state_inputs=kinds,
        outputs=["rows", "width", "face"],
    )
    untouched = make_spec(
        "untouched",
        [(3, "rows = pd.get_option('display.max_rows')")],
        imports=imports,
        outputs=["rows"],
    )
    run_chain(
        steps,
        [
            (first, {}, {}, {}),
            (second, {}, {k: "first" for k in kinds}, {}),
            (untouched, {}, {}, {}),
        ],
    )
    got = {v: load_value(steps.out("second", v)) for v in second["outputs"]}
    assert got == {"rows": 7, "width": 3.5, "face": "#E5E5E5"}
    assert load_value(steps.out("untouched", "rows")) == 60
