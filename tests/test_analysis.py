"""Rules of the def-use analysis, on cells and on notebooks built in code."""

from __future__ import annotations

import keyword
from typing import Any

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nb_kit import notebook

from kale_like.analysis import analyze_cell, param_type, parse_cell, parse_parameters
from kale_like.api.analysis import check_pipeline, load_pipeline
from kale_like.errors import AnalysisError, InputError
from kale_like.model import PARAM_TYPES, Pipeline


def nb(*cells: tuple[str, list[str]] | str, **meta: Any) -> nbformat.NotebookNode:
    """Code cells as ``(source, tags)``, markdown as a str; ``meta`` is kubeflow_notebook."""
    return notebook(*cells, kubeflow=meta) if meta else notebook(*cells)


def load(*cells: tuple[str, list[str]] | str, **meta: Any) -> Pipeline:
    return load_pipeline(nb(*cells, **meta))


def kinds(p: Pipeline) -> set[str]:
    return {d.kind for d in p.diagnostics}


# ---------------------------------------------------------------- cell-level rules
def test_reads_before_definite_writes() -> None:
    f = analyze_cell("y = x + 1\nx = 2\nz = x")
    assert list(f.reads) == ["x"]
    assert set(f.writes) == {"x", "y", "z"}


def test_conditional_write_does_not_kill_later_read() -> None:
    # Bound on some paths only: still an input (soft: the earlier value may pass through).
    f = analyze_cell("if c:\n    x = 1\nprint(x)")
    assert "x" in f.soft_reads and "x" not in f.reads
    f = analyze_cell("if c:\n    x = 1\nelse:\n    x = 2\nprint(x)")
    assert "x" not in f.reads and "x" not in f.soft_reads
    f = analyze_cell("for i in r:\n    x = i\nprint(x)")
    assert "x" in f.soft_reads and "i" in f.soft_reads and "x" not in f.reads
    f = analyze_cell("print(x)\nif c:\n    x = 1\nprint(x)")
    assert f.reads["x"] == (None, 1)  # the first read comes before any binding: a real read


def test_with_body_is_unconditional() -> None:
    f = analyze_cell("with open(p) as fh:\n    lines = fh.read()\nn = len(lines)")
    assert set(f.reads) == {"open", "p", "len"}  # builtins are reads too (they may be rebound)


@pytest.mark.parametrize(
    "code, written",
    [
        ("lst.append(1)", "lst"),
        ("d['k'] = 1", "d"),
        ("obj.attr = 1", "obj"),
        ("obj.a[0] = 1", "obj"),
        ("del d['k']", "d"),
        ("del obj.attr", "obj"),
        ("x += 1", "x"),
        ("d['l'].append(1)", "d"),
        ("df.loc[0, 'x'] = 5", "df"),
        ("df.sort_values('x', inplace=True)", "df"),
        ("import heapq\nheapq.heappush(h, 1)", "h"),
        ("import random\nrandom.shuffle(lst)", "lst"),
        ("import numpy as np\nnp.add(a, b, out=a)", "a"),
        ("setattr(obj, 'a', 1)", "obj"),
        ("next(it)", "it"),
        ("rng.normal(size=3)", "rng"),
        ("model.fit(X, y)", "model"),
        ("c.add(1).add(2)", "c"),
    ],
)
def test_mutation_is_read_and_write(code: str, written: str) -> None:
    f = analyze_cell(code)
    assert written in f.writes
    assert written in f.reads


@pytest.mark.parametrize(
    "code",
    [
        "s = df['x'].sum()",
        "m = x.mean()",
        "k = list(d.keys())",
        "t = ','.join(names)",
        "df2 = df.sort_values('x')",
        "p = model.predict(X)",
        "g = df.groupby('a')['b'].mean()",
    ],
)
def test_pure_methods_do_not_write(code: str) -> None:
    f = analyze_cell(code)
    assert set(f.writes) == {code.split(" =")[0]}


def test_alias_mutation_writes_the_original() -> None:
    f = analyze_cell("a = b\na.append(1)\nc = cfg\nc['m'] = 1")
    assert {"b", "cfg"} <= set(f.writes)
    f = analyze_cell("for seq in (b, extra):\n    seq.append(0)")
    assert {"b", "extra"} <= set(f.writes)
    f = analyze_cell("for d in [df1, df2]:\n    d['c'] = 1")
    assert {"df1", "df2"} <= set(f.writes)
    f = analyze_cell("a = b\na = []\na.append(1)")
    assert f.writes["b"] == (None, 1)  # saved with a (shared object), not changed by line 3


def test_del_ends_a_name() -> None:
    f = analyze_cell("x = 1\ny = x\ndel x")
    assert "x" not in f.writes and "x" in f.deleted
    f = analyze_cell("del (a, [b]), d[0]")
    assert set(f.deleted) == {"a", "b"} and set(f.writes) == {"d"}
    f = analyze_cell("del x\nx = 2")
    assert "x" in f.writes and "x" not in f.deleted and "x" in f.reads


def test_comprehension_and_lambda_names_are_local() -> None:
    f = analyze_cell("sq = [x for x in range(4)]\ntotal = sum(v * k for v in vals)")
    assert set(f.reads) == {"range", "sum", "vals", "k"}
    f = analyze_cell("pairs = [(i, j) for i in a for j in b if i != j]")
    assert set(f.reads) == {"a", "b"}


def test_walrus_binds_in_enclosing_scope() -> None:
    f = analyze_cell("big = [y for v in items if (y := v * 2) > t]")
    assert "y" in f.writes and "y" not in f.reads and "v" not in f.writes
    f = analyze_cell("if (n := len(items)) > 3:\n    pass\nprint(n)")
    assert "n" in f.writes and "n" not in f.reads


def test_function_free_variables_are_read_where_called() -> None:
    f = analyze_cell("def scale(v):\n    return [x * factor for x in v]\n")
    assert "factor" not in f.reads
    assert f.functions["scale"] is not None and "factor" in f.functions["scale"].reads
    f = analyze_cell("def scale(v):\n    return v * factor\nout = scale(3)")
    assert "factor" in f.reads
    f = analyze_cell("def scale(v):\n    return v * factor\nfactor = 2\nout = scale(3)")
    assert "factor" not in f.reads
    f = analyze_cell("def g():\n    return k\ndef f():\n    return g()\nr = list(map(f, xs))")
    assert "k" in f.reads


def test_function_global_rebinds_and_mutations() -> None:
    f = analyze_cell("def bump():\n    global n\n    n = n + 1\nbump()")
    assert "n" in f.writes and "n" in f.reads
    f = analyze_cell("def add(x):\n    items.append(x)\nadd(1)")
    assert "items" in f.writes
    f = analyze_cell("def push(h, v):\n    h.append(v)\npush(heap, 3)")
    assert "heap" in f.writes


def test_magics_are_transformed() -> None:
    f = analyze_cell("%time x = 21\n!echo hi\nfiles = !ls\n")
    assert {"x", "files"} <= set(f.writes)
    f = analyze_cell("%%time\ny = x * 2\n")
    assert f.writes.keys() == {"y"} and "x" in f.reads
    assert f.writes["y"] == (None, 2)
    f = analyze_cell("%env A=B\n%cd /tmp\n")
    assert set(f.state_writes) == {"os.environ", "cwd"}
    f = analyze_cell("%%capture out\nprint(1)\n")
    assert "out" in f.writes


def test_syntax_error_has_line() -> None:
    with pytest.raises(AnalysisError) as info:
        parse_cell("x = 1\n\ny = (", cell=4)
    assert (info.value.kind, info.value.cell, info.value.line) == ("syntax-error", 4, 3)
    with pytest.raises(AnalysisError) as info:
        parse_cell("\n%time x = 1\ndef f(:\n", cell=1)
    assert info.value.line == 3


@pytest.mark.parametrize(
    "code, reads, writes",
    [
        ("import random\nrandom.seed(1)", set(), {"random"}),
        ("import random\nv = random.randint(0, 9)", {"random"}, {"random"}),
        ("from random import choice\nv = choice('ab')", {"random"}, {"random"}),
        ("import numpy as np\nnp.random.seed(0)", set(), {"numpy.random"}),
        ("import numpy as np\nrng = np.random.default_rng(0)", set(), set()),
        ("import torch\ntorch.manual_seed(0)", set(), {"torch.random"}),
        ("import os\nos.environ['A'] = '1'", {"os.environ"}, {"os.environ"}),
        ("import os\nv = os.getenv('A')", {"os.environ"}, set()),
        ("import os\nos.chdir('/tmp')", {"cwd"}, {"cwd"}),
        ("import sys\nsys.path.append('x')", {"sys.path"}, {"sys.path"}),
        ("import warnings\nwarnings.filterwarnings('ignore')", {"warnings"}, {"warnings"}),
        (
            "import pandas as pd\npd.set_option('display.max_rows', 5)",
            {"pandas.options"},
            {"pandas.options"},
        ),
        (
            "import pandas as pd\npd.options.display.max_rows = 5",
            {"pandas.options"},
            {"pandas.options"},
        ),
        (
            "import matplotlib.pyplot as plt\nplt.style.use('ggplot')",
            {"matplotlib.rc"},
            {"matplotlib.rc"},
        ),
    ],
)
def test_global_state(code: str, reads: set[str], writes: set[str]) -> None:
    f = analyze_cell(code)
    assert set(f.state_reads) == reads
    assert set(f.state_writes) == writes


def test_uncertainty_diagnostics() -> None:
    f = analyze_cell("from math import *\nexec('x = 1')\ng = globals()")
    assert [d.kind for d in f.diagnostics] == ["star-import", "dynamic-code", "dynamic-code"]
    assert f.diagnostics[0].line == 1


# ---------------------------------------------------------------- notebook-level rules
def test_last_writer_in_notebook_order() -> None:
    p = load(
        ("x = 1", ["step:a"]), ("x = 2", ["step:b", "prev:a"]), ("y = x", ["step:c", "prev:b"])
    )
    assert p.step("c").input_map == {"x": "b"}
    assert p.step("a").outputs == ()
    assert p.step("b").outputs == ("x",)


def test_data_edge_without_prev_is_inferred() -> None:
    p = load(("x = 1", ["step:a"]), ("y = x", ["step:b"]))
    assert p.step("b").after == ("a",)
    assert "inferred-dependency" in kinds(p)
    assert all(d.severity == "info" for d in p.diagnostics)


def test_prev_without_data_is_kept() -> None:
    p = load(("x = 1", ["step:a"]), ("y = 2", ["step:b", "prev:a"]))
    assert p.step("b").after == ("a",)
    assert "prev-without-data" in kinds(p)


def test_parameters_are_not_inputs_unless_reassigned() -> None:
    p = load(
        ("n = 3\nname = 'a'", ["parameters"]),
        ("m = n * 2", ["step:a"]),
        ("n = 10", ["step:b", "prev:a"]),
        ("k = n + m", ["step:c", "prev:b"]),
    )
    assert p.step("a").parameters == ("n",)
    assert p.step("a").inputs == ()
    assert p.step("c").input_map == {"n": "b", "m": "a"}
    assert [(q.name, q.type) for q in p.parameters] == [("n", "int"), ("name", "str")]


def test_parameter_read_through_function() -> None:
    p = load(
        ("def f():\n    return lr * 2", ["functions"]),
        ("lr = 0.1", ["parameters"]),
        ("v = f()", ["step:a"]),
    )
    assert p.step("a").parameters == ("lr",)


def test_injected_parameters_override() -> None:
    p = load(
        ("a = 1\nb = 2", ["parameters"]),
        ("a = 5\nc = None", ["injected-parameters"]),
        ("x = a + b", ["step:s"]),
    )
    assert {q.name: (q.default, q.type) for q in p.parameters} == {
        "a": (5, "int"),
        "b": (2, "int"),
        "c": (None, "none"),
    }


@pytest.mark.parametrize("line", ["x = f()", "x = [1, y]", "print(1)", "x, y = 1, 2", "x = 1 + 1"])
def test_bad_parameters(line: str) -> None:
    with pytest.raises(AnalysisError) as info:
        load((f"a = 1\n{line}", ["pipeline-parameters"]), ("b = a", ["step:s"]))
    assert (info.value.kind, info.value.cell, info.value.line) == ("bad-parameters", 0, 2)


def test_metrics_cell() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        ("x += 1\ny = 2", ["step:b", "prev:a"]),
        ("# metrics\n\nprint(x)\nprint(y)", ["pipeline-metrics"]),
    )
    assert [(m.name, m.step, m.line) for m in p.metrics] == [("x", "b", 3), ("y", "b", 4)]
    assert p.step("b").metrics == ("x", "y")
    with pytest.raises(AnalysisError) as info:
        load(("x = 1", ["step:a"]), ("print(x)\nprint(x, 1)", ["pipeline-metrics"]))
    assert (info.value.kind, info.value.line) == ("bad-metrics", 2)


def test_undefined_metric_is_an_error_diagnostic() -> None:
    p = load(("x = 1", ["step:a"]), ("print(nope)", ["pipeline-metrics"]))
    assert "undefined-metric" in kinds(p)
    with pytest.raises(AnalysisError):
        check_pipeline(p)


def test_undefined_name_warning() -> None:
    p = load(("y = mystery + 1", ["step:a"]), ("mystery = 2", ["step:b"]))
    diag = next(d for d in p.diagnostics if d.kind == "undefined-name")
    assert (diag.cell, diag.line, diag.severity) == (0, 1, "warning")
    assert "later" in diag.message
    p = load(("from os.path import *", ["imports"]), ("y = join('a', 'b')", ["step:a"]))
    assert "undefined-name" not in kinds(p)


MAYBE_BOUND = {
    "try": "try:\n    model = int('3')\nexcept ValueError:\n    print('no model')\n",
    "try-else": "try:\n    n = 1\nexcept ValueError:\n    pass\nelse:\n    model = n\n",
    "if": "if len('ab') > 1:\n    model = 2\n",
    "if-elif": "if False:\n    model = 1\nelif True:\n    model = 2\n",
    "for": "for model in range(3):\n    pass\n",
    "for-else": "for i in range(2):\n    pass\nelse:\n    model = i\n",
    "while-else": "k = 0\nwhile k < 2:\n    k += 1\nelse:\n    model = k\n",
    "with": "import contextlib\nwith contextlib.suppress(KeyError):\n    model = {}['x']\n"
    "model = 5\n",
    "with-if": "import contextlib\nwith contextlib.nullcontext():\n    if True:\n"
    "        model = 4\n",
    "match": "match 3:\n    case 1:\n        model = 1\n    case int():\n        model = 3\n",
    "walrus-in-if": "if (model := 7) > 100:\n    pass\n",
    "global-in-function": "def setup():\n    global model\n    model = 3\nsetup()\n",
}


@pytest.mark.parametrize("code", MAYBE_BOUND.values(), ids=list(MAYBE_BOUND))
def test_names_bound_in_blocks_are_not_undefined(code: str) -> None:
    """The issue's case: `model` bound inside a block of the same cell, read after it, and
    bound again by a later step: no `undefined-name` (the top-to-bottom run binds it)."""
    reader = code + "score = model * 2"
    top: dict[str, Any] = {}
    exec(reader, top)  # ground truth: a top-to-bottom run never fails on `model`
    exec("model = 0", top)
    p = load(
        (reader, ["step:modelling"]),
        ("model = 0", ["step:later"]),
        ("print(model)", ["step:report"]),
    )
    assert "undefined-name" not in kinds(p), [d.message for d in p.diagnostics]
    # The name is bound in the step and read in a later one: that edge is kept.
    assert p.step("later").input_map == {} and p.step("report").input_map == {"model": "later"}


def test_maybe_bound_name_still_reads_the_earlier_producer() -> None:
    # The branch may not run: the step may keep the earlier value, so it is an input.
    p = load(
        ("x = 1", ["step:a"]),
        ("if len('') > 0:\n    x = 2\ny = x + 1", ["step:b"]),
        ("z = x", ["step:c"]),
    )
    assert p.step("b").input_map == {"x": "a"} and p.step("c").input_map == {"x": "b"}
    assert "undefined-name" not in kinds(p)
    # A read before the binding is still reported.
    p = load(("y = x\ntry:\n    x = 1\nexcept Exception:\n    pass", ["step:a"]))
    assert [d.kind for d in p.diagnostics if d.severity == "warning"] == ["undefined-name"]
    # A deleted name rebound on some path: no warning, nothing to take from the deleter.
    p = load(
        ("x = 1", ["step:a"]),
        ("del x", ["step:b"]),
        ("if len('a'):\n    x = 2\nprint(x)", ["step:c"]),
    )
    assert "undefined-name" not in kinds(p) and p.step("c").input_map == {}
    # `with suppress(...)` may stop before the binding: the earlier value is an input.
    p = load(
        ("import contextlib", ["imports"]),
        ("model = 1", ["step:a"]),
        ("with contextlib.suppress(KeyError):\n    model = {}['x']\nscore = model", ["step:b"]),
    )
    assert p.step("b").input_map == {"model": "a"}


def test_exception_name_is_unbound_after_the_handler() -> None:
    p = load(
        ("try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    pass\nprint(err)", ["step:a"])
    )
    assert "undefined-name" in kinds(p)  # Python unbinds `err`: a real NameError


def test_irrefutable_match_binds_definitely() -> None:
    f = analyze_cell("match v:\n    case 1:\n        m = 1\n    case _:\n        m = 2\nprint(m)")
    assert "m" not in f.reads and "m" not in f.soft_reads
    f = analyze_cell(
        "match v:\n    case 1:\n        m = 1\n    case _ if v:\n        m = 2\nprint(m)"
    )
    assert "m" in f.soft_reads


def test_imports_and_functions_are_never_inputs() -> None:
    p = load(
        ("import json", ["imports"]),
        ("def f(x):\n    return x", ["functions"]),
        ("a = f(json.dumps(1))", ["step:a"]),
        ("b = f(a)", ["step:b"]),
    )
    assert p.step("b").input_map == {"a": "a"}
    assert p.prelude.imports == ("import json",)
    assert p.prelude.function_cells == (1,)


def test_step_defined_function_travels_with_its_globals() -> None:
    p = load(
        ("k = 3\ndef mul(v):\n    return v * k", ["step:a"]), ("r = mul(2)", ["step:b", "prev:a"])
    )
    assert p.step("b").input_map == {"mul": "a", "k": "a"}


def test_code_inside_values_reads_the_globals_it_uses_where_it_runs() -> None:
    # An instance's method and a factory's closure run where they are called: the step that
    # calls them reads what their code reads (from its latest writer), not the maker's step.
    p = load(
        (
            "S = 2\nB = 1\nclass C:\n    def f(self):\n        return S\n"
            "def make():\n    def g():\n        return B\n    return g\n"
            "obj = C()\nfn = make()\nplain = len([1])",
            ["step:a"],
        ),
        ("S = 5\nB = 7", ["step:b", "prev:a"]),
        ("r = obj.f() + fn()", ["step:c", "prev:b"]),
        ("q = plain", ["step:d", "prev:b"]),
    )
    assert p.step("c").input_map == {"obj": "a", "fn": "a", "S": "b", "B": "b"}
    assert p.step("d").input_map == {"plain": "a"}


def test_a_value_made_in_the_functions_cell_can_still_change() -> None:
    p = load(
        ("class Acc:\n    def add(self, v):\n        self.items.append(v)", ["functions"]),
        ("acc = Acc()\nacc.items = []", ["step:a"]),
        ("acc.add(1)", ["step:b", "prev:a"]),
        ("n = len(acc.items)", ["step:c", "prev:b"]),
    )
    assert p.step("c").input_map == {"acc": "b"}


def test_cross_step_alias() -> None:
    p = load(
        ("b = [1]\na = b", ["step:s1"]),
        ("a.append(2)", ["step:s2", "prev:s1"]),
        ("n = len(b)", ["step:s3", "prev:s2"]),
    )
    assert p.step("s3").input_map == {"b": "s2"}


def test_global_state_is_carried_through_ancestors() -> None:
    p = load(
        ("import random", ["imports"]),
        ("random.seed(1)", ["step:a"]),
        ("x = 1", ["step:b", "prev:a"]),
        ("y = random.random()", ["step:c", "prev:b"]),
    )
    assert dict(p.step("b").state_inputs) == {"random": "a"}
    assert dict(p.step("c").state_inputs) == {"random": "a"}
    assert p.step("a").state_outputs == ("random",)
    assert p.step("c").state_outputs == ("random",)


def test_untagged_cells_join_the_step_above_and_those_above_every_tag_are_left_out() -> None:
    # Kale's rule: cell 0 is above every tagged cell, so it belongs to no block.
    p = load(
        ("z = 0", []),
        "# md",
        ("x = z", ["step:a"]),
        ("y = x", []),
        ("q = 1", ["skip"]),
        ("w = y", []),
        ("k = w", ["step:b"]),
    )
    assert p.step("a").cells == (2, 3, 5)
    assert p.step("b").cells == (6,)
    kinds = {(d.kind, d.cell) for d in p.diagnostics}
    assert ("outside-pipeline", 0) in kinds and ("undefined-name", 2) in kinds


def test_no_step_tags_is_one_step() -> None:
    p = load_pipeline(
        nb(("import os", ["imports"]), ("x = 1", []), ("y = x", [])), path="/tmp/My Notebook.ipynb"
    )
    assert p.step_names == ["my_notebook"]
    assert p.name == "my-notebook"
    assert p.steps[0].cells == (1, 2)


def test_settings_merge_and_conflict() -> None:
    p = load(
        ("x = 1", ["step:a", "limit:memory:1Gi"]),
        ("y = 2", ["step:a", "limit:memory:1Gi", "env:MODE=fast", "retry:2"]),
        steps_defaults=["limit:memory:4Gi", "limit:cpu:1", "label:team:ml"],
        volumes=[{"name": "data", "mount_point": "/data", "type": "pvc"}],
    )
    assert p.step("a").settings.to_json() == {
        "limits": {"memory": "1Gi", "cpu": "1"},
        "env": {"MODE": "fast"},
        "labels": {"team": "ml"},
        "retries": 2,
        "volumes": [{"pvc": "data", "mount_path": "/data"}],
    }
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a", "cache:enabled"]), ("y = 2", ["step:a", "cache:disabled"]))
    assert (info.value.kind, info.value.cell, info.value.tag) == (
        "conflicting-settings",
        1,
        "cache:disabled",
    )


def test_metadata_overrides() -> None:
    n = nb(
        ("x = 1", ["step:a"]),
        pipeline_name="from-meta",
        experiment_name="e1",
        pipeline_description="d",
        docker_image="img:1",
    )
    p = load_pipeline(n)
    assert (p.name, p.experiment, p.description, p.base_image) == ("from-meta", "e1", "d", "img:1")
    p = load_pipeline(n, pipeline_name="cli", experiment="e2", description="d2", base_image="b:2")
    assert (p.name, p.experiment, p.description, p.base_image) == ("cli", "e2", "d2", "b:2")
    assert p.metadata["pipeline_name"] == "from-meta"


def test_modules_include_functions_and_prelude() -> None:
    p = load(
        ("import numpy as np", ["imports"]),
        ("def f():\n    import scipy.stats\n    return 1", ["functions"]),
        ("v = f()\nfrom sklearn import svm", ["step:a"]),
        ("w = 1", ["step:b"]),
    )
    assert p.step("a").modules == ("numpy", "scipy", "sklearn")
    assert p.step("b").modules == ("numpy",)


def test_keyword_step_names_and_unknown_tags() -> None:
    p = load(("x = 1", ["step:class", "hide-input", "stpe:y"]))
    assert p.step_names == ["class"]
    hints = [d.fix for d in p.diagnostics if d.kind == "unknown-tag"]
    assert len(hints) == 2 and "'step'" in (hints[1] or "")


def test_ambiguous_parallel_writers() -> None:
    p = load(
        ("b = 1", ["step:s"]),
        ("x = b", ["step:l", "prev:s"]),
        ("x = 2", ["step:r", "prev:s"]),
        ("y = x", ["step:j", "prev:l", "prev:r"]),
    )
    assert p.step("j").input_map == {"x": "r"}
    assert "ambiguous-definition" in kinds(p)


@pytest.mark.parametrize("image", ["bad image", "x;rm -rf /", "", "img\n"])
def test_hostile_base_image_is_refused(image: str) -> None:
    n = nb(("x = 1", ["step:a"]), docker_image=image)
    if image:
        with pytest.raises(InputError) as info:
            load_pipeline(n)
        assert info.value.kind == "bad-image"
        with pytest.raises(InputError):
            load_pipeline(nb(("x = 1", ["step:a"])), base_image=image)
    else:
        assert load_pipeline(n).base_image is None


def test_hostile_metadata_is_tolerated() -> None:
    p = load(
        ("x = 1", ["step:a"]),
        pipeline_name='Evil"; import os #',
        experiment_name=["not", "a", "string"],
        pipeline_description=None,
    )
    assert p.name == "evil-import-os"
    assert "renamed-pipeline" in kinds(p)


# ---------------------------------------------------------------- properties
LITERALS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), LITERALS)
def test_parameter_literals_round_trip(name: str, value: Any) -> None:
    if keyword.iskeyword(name) or name in ("True", "False", "None"):
        return
    (param,) = parse_parameters(f"{name} = {value!r}\n", 0, "parameters")
    assert param.name == name and param.default == value
    assert param.type == param_type(value)
    assert param.type in PARAM_TYPES


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_analysis_never_crashes(text: str) -> None:
    try:
        analyze_cell(text)
    except AnalysisError as err:
        assert err.kind == "syntax-error"


LINES = st.sampled_from(
    [
        "x = 1",
        "y = x + 1",
        "%time z = y",
        "!echo $x",
        "del y",
        "a = b = c",
        "for i in r:",
        "    x += i",
        "if x:",
        "    y = [v for v in x]",
        "l = !ls",
        "%%time",
        "import os",
        "os.environ['A'] = x",
        "def f(q):",
        "    return q + x",
        "f(2)",
        "lst.append(f)",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(LINES, max_size=8))
def test_analysis_of_line_soups_never_crashes(lines: list[str]) -> None:
    try:
        analyze_cell("\n".join(lines))
    except AnalysisError as err:
        assert err.kind == "syntax-error" and err.line is not None


@pytest.mark.parametrize(
    "code, kind",
    [
        ("import os\nos.environ.update(A='1')", "os.environ"),
        ("import os\nos.putenv('A', '1')", "os.environ"),
        ("from os import environ\nenviron['A'] = '1'", "os.environ"),
        ("import sys\nsys.path = ['x']", "sys.path"),
        ("import matplotlib.pyplot as plt\nplt.rcParams['lines.linewidth'] = 2", "matplotlib.rc"),
        ("import seaborn as sns\nsns.set_theme()", "matplotlib.rc"),
        ("import numpy as np\nv = np.random.rand(3)", "numpy.random"),
        ("import torch\nt = torch.randn(3)", "torch.random"),
        ("%set_env A=1", "os.environ"),
    ],
)
def test_more_state_writers(code: str, kind: str) -> None:
    assert kind in analyze_cell(code).state_writes


def test_more_aliases_and_lambdas() -> None:
    f = analyze_cell("a, c = b, d\nc.append(1)")
    assert f.writes["d"] == (None, 2) and f.writes["b"] == (None, 1)
    f = analyze_cell("row = table[0]\nrow.append(1)\nh = obj.child\nh.x = 1")
    assert {"table", "obj"} <= set(f.writes)
    f = analyze_cell("out = list(map(lambda v: v + offset, xs))")
    assert "offset" in f.reads and "v" not in f.reads
    f = analyze_cell("key = lambda r: r[col]\nrows.sort(key=key)")
    assert {"col", "rows"} <= set(f.reads) and "rows" in f.writes


def test_class_in_step_reads_globals_when_instantiated() -> None:
    p = load(
        ("scale = 2\nclass M:\n    k = 1\n    def f(self):\n        return scale", ["step:a"]),
        ("m = M()\nv = m.f()", ["step:b", "prev:a"]),
    )
    assert p.step("b").input_map == {"M": "a", "scale": "a"}


def test_containers_alias_their_items() -> None:
    p = load(
        ("b = [1]\na = [b]\ncfg = {'m': b}", ["step:s1"]),
        ("b.append(2)", ["step:s2", "prev:s1"]),
        ("n = len(a[0]) + len(cfg['m'])", ["step:s3", "prev:s2"]),
    )
    # s2 changes the list a and cfg hold, so s3 takes them from s2, loaded with b.
    assert p.step("s3").input_map == {"a": "s2", "cfg": "s2"}
    assert p.step("s2").input_map == {"b": "s1", "a": "s1", "cfg": "s1"}


def test_long_expressions_do_not_crash() -> None:
    f = analyze_cell("x = " + " + ".join(["a"] * 1200))
    assert list(f.reads) == ["a"]
    with pytest.raises(AnalysisError) as info:
        analyze_cell("x = " + " + ".join(["a"] * 100_000))
    assert info.value.kind == "syntax-error"


def test_notebook_volumes() -> None:
    p = load(
        ("x = 1", ["step:a", "volume:own:/own"]),
        volumes=[
            {"name": "data", "mount_point": "/data", "type": "pvc"},
            {"name": "new", "mount_point": "/new", "type": "new_pvc", "size": 1},
            "cache:/cache",
        ],
    )
    assert p.step("a").settings.volumes == (("own", "/own"), ("data", "/data"), ("cache", "/cache"))
    assert [d.kind for d in p.diagnostics if d.severity == "warning"] == ["unsupported-volume"]
    # An invalid pvc entry is refused like an invalid volume: tag (tests/hostile/).
    with pytest.raises(InputError) as info:
        load(("x = 1", ["step:a"]), volumes=[{"name": "bad name!", "mount_point": "/x"}])
    assert info.value.kind == "bad-metadata" and "volumes[0]" in info.value.message


def test_conditional_del_keeps_the_name_alive() -> None:
    p = load(
        ("x = [1]", ["step:a"]),
        ("if len(x) > 5:\n    del x", ["step:b", "prev:a"]),
        ("y = x", ["step:c", "prev:b"]),
    )
    assert p.step("c").input_map == {"x": "b"}
    assert p.step("b").input_map == {"x": "a"}


# ---------------------------------------------------------------- likely kinds (issue 11)
def test_fan_out_of_list_readers_is_parallel() -> None:
    readers = [
        "m = max(xs)",
        "m = min(xs)",
        "m = sorted(xs)",
        "m = xs[1:]",
        "m = xs[:2]",
        "m = xs[::-1]",
        "m = (sum(xs), len(xs), any(xs), all(xs))",
        "m = list(xs) + list(tuple(xs))",
    ]
    p = load(
        ("xs = [3, 1, 2]", ["step:make"]),
        *((r.replace("m =", f"m{i} ="), [f"step:r{i}"]) for i, r in enumerate(readers)),
    )
    for i in range(len(readers)):
        assert p.step(f"r{i}").after == ("make",), readers[i]
        assert p.step(f"r{i}").input_map == {"xs": "make"}
    assert p.step("make").outputs == ("xs",)


@pytest.mark.parametrize(
    "code",
    [
        "xs = [1]\nm = max(xs)",
        "xs = [1]\nm = min(xs)",
        "xs = [1]\nm = sorted(xs)[0]",
        "d = {}\nn = len(d) + sum(d)",
        "xs = [1]\nys = xs[1:]\nys.append(2)",
        "xs = list(range(3))\nys = xs[:]\nys.sort()",
        "s = 'ab'\nt = s\nu = t.upper()",
        "s = f'{k}'\nt = s\nt += 'x'",
        "d = {'a': 1}\nv = d.get('a')\nks = list(d.keys())",
        "xs = [1]\ni = xs.index(1) + xs.count(1)",
        "t = (1, 2)\nn = t.count(1)",
        "st = {1}\nu = st.union({2})\nok = st.issubset(u)",
        "n = 3\nm = n.bit_length()",
    ],
)
def test_reading_builtins_and_read_only_methods_are_not_writes(code: str) -> None:
    """Each `last` line only reads the value made above it (`max(xs)`, a list slice...)."""
    *setup, last = code.splitlines()
    root = next(iter(analyze_cell("\n".join(setup)).writes))  # the value read by `last`
    p = load(("\n".join(setup), ["step:a"]), (last, ["step:b"]), (f"z = {root}", ["step:z"]))
    assert p.step("z").input_map[root] == "a"
    assert root not in p.step("b").outputs


@pytest.mark.parametrize(
    "code, written",
    [
        ("it = iter(xs)\nm = max(it)", "it"),
        ("it = iter(xs)\nrest = list(it)", "it"),
        ("it = iter(xs)\nfor v in it:\n    break", "it"),
        ("it = iter(xs)\nsq = [v * v for v in it]", "it"),
        ("g = (v for v in xs)\nn = sum(g)", "g"),
        ("import itertools\nc = itertools.count()\nfirst = next(c)", "c"),
        ("def gen():\n    yield 1\ng = gen()\nn = sorted(g)", "g"),
        ("it = iter(xs)\nm = map(str, it)\nout = list(m)", "it"),
        ("fh = open(p)\nhead = fh.readline()", "fh"),
        ("it = zip(xs, xs)\na, b = next(it)", "it"),
        ("import random\nrng = random.Random(0)\npick = rng.sample(xs, 1)", "rng"),
        ("import numpy as np\nrng = np.random.default_rng(0)\nv = rng.integers(3)", "rng"),
        ("xs = [1]\nxs.sort()", "xs"),
        ("d = {}\nd.update(a=1)", "d"),
        ("st = set()\nst.add(1)", "st"),
    ],
)
def test_iterators_and_mutators_are_written_when_used(code: str, written: str) -> None:
    setup = "\n".join(line for line in code.splitlines()[:-1])
    last = code.splitlines()[-1]
    if code.count("\n") > 1 and code.splitlines()[-1].startswith("    "):
        setup, last = code.splitlines()[0], "\n".join(code.splitlines()[1:])
    p = load(
        ("xs = [1, 2]\np = 'f.txt'", ["step:data"]),
        (setup, ["step:a"]),
        (last, ["step:b"]),
        (f"n = {written}", ["step:c"]),
    )
    assert p.step("c").input_map[written] == "b"


def test_shadowed_builtins_are_not_trusted() -> None:
    p = load(
        ("xs = [1, 2]\ndef max(v):\n    return v.pop()", ["step:a"]),
        ("m = max(xs)", ["step:b"]),
        ("n = xs", ["step:c"]),
    )
    assert p.step("c").input_map == {"xs": "b"}


def test_unknown_kinds_keep_the_method_table() -> None:
    assert "df" not in analyze_cell("top = df.head()\nstats = df.describe()").writes
    assert "model" not in analyze_cell("p = model.predict(X)\nt = model.transform(X)").writes
    assert "model" in analyze_cell("model.fit(X, y)").writes
    # A slice of something that is not known to be a list may be a view (numpy, pandas).
    f = analyze_cell("import numpy as np\narr = np.zeros(3)\nv = arr[1:]\nv[0] = 1")
    assert f.writes["arr"] == (None, 4)
    f = analyze_cell("v = data[1:]\nv[0] = 1")
    assert "data" in f.writes


def test_kinds_follow_control_flow_and_steps() -> None:
    # A name whose kind differs between paths has none: a slice may be a view again.
    f = analyze_cell("xs = [1]\nif c:\n    xs = arr\nys = xs[1:]\nys[0] = 2")
    assert f.writes["xs"] == (None, 5)
    f = analyze_cell("xs = [1]\nfor v in r:\n    xs = xs + [v]\nys = xs[1:]\nys[0] = 2")
    assert f.writes["xs"] == (None, 3)  # list + list stays a list: its slice is a copy
    # Kinds travel from step to step (like aliases) and start at the parameters' types.
    p = load(
        ("name = 'x'\nsizes = [1]", ["pipeline-parameters"]),
        ("s = 'ab'", ["step:a"]),
        ("t = s\nu = name\nv = sizes[1:]\nv.append(1)", ["step:b"]),
        ("w = s + name + str(len(sizes))", ["step:c"]),
    )
    assert p.step("c").input_map == {"s": "a"} and "sizes" in p.step("c").parameters
    p = load(
        ("s = 'ab'", ["step:a"]),
        ("s = load()", ["step:b"]),
        ("t = s\nt.append(1)", ["step:c"]),
        ("u = s", ["step:d"]),
    )
    assert p.step("d").input_map["s"] == "c"  # after b, s has no kind: t = s shares it


def test_chained_assignment_aliases_every_target() -> None:
    f = analyze_cell("a = b = []\na.append(1)")
    assert f.writes["b"] == (None, 2)
    p = load(("a = b = []", ["step:s1"]), ("a.append(1)", ["step:s2"]), ("n = len(b)", ["step:s3"]))
    assert p.step("s3").input_map == {"b": "s2"}
    assert p.step("s2").input_map == {"a": "s1", "b": "s1"}  # loaded together: one object
    f = analyze_cell("x = y = z = 0\nx += 1")
    assert set(f.writes) == {"x", "y", "z"} and "y" not in f.reads


@pytest.mark.parametrize(
    "code",
    [
        "setattr(obj, 'a', 1)",
        "delattr(obj, 'a')",
        "vars(obj).update(a=1)",
        "obj.__dict__.update(a=1)",
        "obj.__dict__['a'] = 1",
        "vars(obj)['a'] = 1",
        "obj.a = 1",
        "obj.items.append(1)",
    ],
)
def test_attribute_writes_count_as_writes_of_the_object(code: str) -> None:
    p = load(
        ("from types import SimpleNamespace\nobj = SimpleNamespace(a=0, items=[])", ["step:a"]),
        (code, ["step:b"]),
        ("v = obj", ["step:c"]),
    )
    assert p.step("c").input_map == {"obj": "b"}


def test_containers_hold_what_is_stored_in_them() -> None:
    p = load(
        ("from types import SimpleNamespace\no = SimpleNamespace()\nxs = [1]", ["step:a"]),
        ("o.v = xs\nd = {}\nd['k'] = xs\nbag = []\nbag.append(xs)", ["step:b"]),
        ("xs.append(2)", ["step:c"]),
        ("r = (o, d, bag)", ["step:d"]),
    )
    assert p.step("d").input_map == {"o": "c", "d": "c", "bag": "c"}


@pytest.mark.parametrize(
    "code",
    [
        "exec('x = 1')",
        "y = eval('1 + 1')",
        "globals()['x'] = 1",
        "ns = locals()",
        "vars()['x'] = 1",
    ],
)
def test_dynamic_code_is_a_diagnostic(code: str) -> None:
    p = load((code, ["step:a"]), ("print(x)", ["step:b"]))
    diag = next(d for d in p.diagnostics if d.kind == "dynamic-code")
    assert (diag.cell, diag.line, diag.severity) == (0, 1, "warning")
    assert "when the step runs" in diag.message and "verify" in (diag.fix or "")
    assert "undefined-name" not in kinds(p)  # the name may exist: no false warning either
