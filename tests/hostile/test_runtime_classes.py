"""Hostile probes, the step runtime (issue 12, items 18-19): classes defined in step cells
cross steps in every engine; a sweep refuses a notebook `run` refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _kit import cli, top_to_bottom
from extras import require
from nb_kit import cell, write_notebook

# A data scientist's usual step cell: a model class, an estimator subclass, a plain class,
# and a container holding instances of them, defined where they are first used.
MAKE = """
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)
        torch.nn.init.constant_(self.fc.weight, 0.5)
        torch.nn.init.constant_(self.fc.bias, 0.25)

    def forward(self, x):
        return self.fc(x)

class Doubler(BaseEstimator, TransformerMixin):
    def __init__(self, k=2):
        self.k = k

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [[v * self.k for v in row] for row in X]

class Box:
    def __init__(self, v):
        self.v = v

net = Net()
est = Doubler(k=3)
pipe = Pipeline([("double", Doubler(k=5))])
boxes = [Box(1), Box(2)]
"""
USE = """
y = float(net(torch.tensor([[1.0, 2.0]])).item())
t = est.fit([[1, 2]]).transform([[1, 2]])
u = pipe.fit_transform([[1]])
s = sum(b.v for b in boxes)
kinds = [type(net).__name__, isinstance(net, torch.nn.Module), type(pipe[0]).__name__]
"""


def _classes_notebook(path: Path) -> Path:
    return write_notebook(
        path,
        cell(
            "import torch\nfrom sklearn.base import BaseEstimator, TransformerMixin\n"
            "from sklearn.pipeline import Pipeline",
            "imports",
        ),
        cell(MAKE, "step:make"),
        cell(USE, "step:use"),
        cell("print(y)\nprint(s)", "pipeline-metrics"),
    )


@pytest.mark.parametrize("engine", ["local", "kfp-local"])
def test_classes_defined_in_a_step_cell_cross_steps(engine: str, tmp_path: Path) -> None:
    require("torch")
    require("sklearn")
    from kale_like.api.execution import run

    nb = _classes_notebook(tmp_path / "classes.ipynb")
    truth = top_to_bottom(nb, ["y", "t", "u", "s", "kinds"])
    result = run(nb, engine=engine, run_root=tmp_path / "runs", keep_values=True)
    assert result.status == "succeeded", {
        n: (s.status, s.error, s.traceback) for n, s in result.steps.items() if s.error
    }
    assert result.metrics == {"y": truth["y"], "s": truth["s"]}
    if engine == "local":  # kfp-local reports metrics only
        got = {k: result.values[k] for k in ("t", "u", "kinds")}
        assert json.loads(json.dumps(got)) == {k: truth[k] for k in ("t", "u", "kinds")}


def test_values_holding_step_classes_avoid_by_reference_backends() -> None:
    torch = require("torch")
    from kale_like.runtime.marshal import pickle_by_reference, registry

    namespace: dict[str, object] = {"torch": torch, "__name__": "__main__"}
    exec("class Net(torch.nn.Module):\n    pass\nclass Kept(torch.nn.Module):\n    pass", namespace)
    pickle_by_reference([namespace["Kept"]])  # replayed in every step (a functions cell)
    try:
        assert registry.for_value(namespace["Net"]()).name == "cloudpickle"
        assert registry.for_value([namespace["Net"]()]).name == "cloudpickle"
        assert registry.for_value(namespace["Kept"]()).name == "torch"
        assert registry.for_value(torch.nn.Linear(1, 1)).name == "torch"
    finally:
        pickle_by_reference([])


# -- 19. sweep refuses what run refuses ----------------------------------------------------
def test_sweep_of_a_notebook_with_an_error_diagnostic_exits_2_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = write_notebook(
        tmp_path / "nb.ipynb",
        cell("lr = 0.1", "pipeline-parameters"),
        cell("a = lr * 2", "step:make"),
        cell("print(a)\nprint(nope)", "pipeline-metrics"),
    )
    root = tmp_path / "root"
    code, _, err = cli(capsys, "run", nb, "--run-root", root)
    assert code == 2 and "'nope'" in err
    code, out, err = cli(
        capsys, "sweep", nb, "--param", "lr=choice:0.1,0.2", "--objective", "a", "--run-root", root
    )
    assert code == 2, out + err
    assert "'nope'" in err and "Traceback" not in err
    assert not root.exists()
