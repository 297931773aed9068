"""Requirement inference: modules -> pinned distributions, stdlib dropped, helpers, unknowns."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from kale_like.errors import InputError
from kale_like.images.environment import PythonEnvironment, closure
from kale_like.images.requirements import (
    infer_requirements,
    pip_magic_packages,
    runtime_requirements,
)
from kale_like.model import Pipeline, Prelude, Step


def pipeline(*steps: Step, **kw: object) -> Pipeline:
    return Pipeline(name="demo", steps=steps, python_version="3.11", **kw)  # type: ignore[arg-type]


def test_stdlib_dropped_and_versions_pinned(env: PythonEnvironment) -> None:
    p = pipeline(Step("a", (0,), ("",), modules=("os", "json", "numpy", "sklearn", "__future__")))
    reqs, diags = infer_requirements(p, env=env)
    assert reqs["a"].requirements == ("numpy==2.4.6", "scikit-learn==1.9.1")
    assert reqs["a"].unknown == ()
    assert [d for d in diags if d.severity == "error"] == []


def test_pandas_brings_its_parquet_companion(env: PythonEnvironment) -> None:
    reqs, _ = infer_requirements(pipeline(Step("a", (0,), ("",), modules=("pandas",))), env=env)
    assert reqs["a"].requirements == ("pandas==3.1.1", "pyarrow==20.0.0")


def test_closure_follows_requires_markers_and_extras(env: PythonEnvironment) -> None:
    dists = closure(["scikit-learn==1.9.1", "requests[socks]==2.33.0"], env)
    assert set(dists) == {
        "scikit-learn", "numpy", "scipy", "joblib", "requests", "urllib3", "pysocks",
    }  # fmt: skip
    assert dists["scipy"] == ("scipy", "1.16.0")
    # the `tests` extra of scikit-learn and a python<3 marker are not followed
    assert "pytest" not in dists and "idna" not in dists


def test_unknown_module_is_a_diagnostic_and_a_build_error(env: PythonEnvironment) -> None:
    from kale_like.images import plan_pipeline

    p = pipeline(Step("train", (3,), ("",), modules=("numpy", "torchvisionx")))
    reqs, diags = infer_requirements(p, env=env)
    assert reqs["train"].unknown == ("torchvisionx",)
    [diag] = [d for d in diags if d.kind == "unknown-module"]
    assert diag.step == "train" and "torchvisionx" in diag.message
    assert "kubeflow_notebook.requirements" in (diag.fix or "")
    with pytest.raises(InputError) as err:
        plan_pipeline(p, env=env, base_image="kale-like/base:py3.11")
    assert err.value.exit_code == 2 and err.value.kind == "unknown-module"
    assert "torchvisionx" in str(err.value) and "'train'" in str(err.value)


def test_metadata_and_requirements_txt_are_honoured(tmp_path: Path, env: PythonEnvironment) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# pinned extras\nrequests\n--index-url http://x\ntorchvisionx==0.1\n", encoding="utf-8"
    )
    nb = tmp_path / "nb.ipynb"
    p = pipeline(
        Step("a", (0,), ("",), modules=("torchvisionx", "numpy")),
        notebook_path=str(nb),
        metadata={"kubeflow_notebook": {"requirements": ["joblib", "scipy>=1.0"]}},
    )
    reqs, diags = infer_requirements(p, env=env)
    assert reqs["a"].unknown == ()  # provided by the explicit requirement
    assert reqs["a"].requirements == (
        "joblib==1.5.0",
        "numpy==2.4.6",
        "requests==2.33.0",
        "scipy==1.16.0",
        "torchvisionx==0.1",
    )
    assert [d.kind for d in diags] == ["requirement-ignored"]  # the --index-url line


def test_local_helper_modules_are_copied_and_their_imports_followed(
    tmp_path: Path, env: PythonEnvironment
) -> None:
    (tmp_path / "helpers.py").write_text("import numpy\nfrom tools import x\n", encoding="utf-8")
    pkg = tmp_path / "tools"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("x = 1\n", encoding="utf-8")
    (pkg / "impl.py").write_text("def f():\n    import sklearn\n", encoding="utf-8")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "impl.cpython-311.pyc").write_bytes(b"junk")
    p = pipeline(
        Step("a", (0,), ("",), modules=("helpers",)),
        Step("b", (1,), ("",), modules=("json",)),
        notebook_path=str(tmp_path / "nb.ipynb"),
    )
    reqs, _ = infer_requirements(p, env=env)
    assert reqs["a"].local_files == ("helpers.py", "tools/__init__.py", "tools/impl.py")
    assert reqs["a"].requirements == ("numpy==2.4.6", "scikit-learn==1.9.1")
    assert reqs["b"].local_files == () and reqs["b"].requirements == ()


def test_pip_magic_lines_are_baked_in_and_reported(env: PythonEnvironment) -> None:
    src = "%pip install -q requests 'joblib>=1' -r reqs.txt\n!pip install git+https://x/y.git\nx=1"
    assert pip_magic_packages(src) == ["requests", "joblib>=1"]
    p = pipeline(
        Step("a", (0,), (src,), modules=()), prelude=Prelude(imports=("%pip install six",))
    )
    reqs, diags = infer_requirements(p, env=env)
    assert reqs["a"].requirements == ("joblib==1.5.0", "requests==2.33.0", "six==1.17.0")
    assert [d.kind for d in diags] == ["pip-install-magic"] and diags[0].severity == "info"


def test_runtime_requirements_pin_the_runtime(env: PythonEnvironment) -> None:
    assert runtime_requirements(env) == (
        "cloudpickle==3.1.1",
        "ipython==9.18.1",
        "kfp==2.17.3",
        "PyYAML==6.0.2",
    )


def test_current_environment_maps_real_modules() -> None:
    env = PythonEnvironment.current()
    p = pipeline(Step("a", (0,), ("",), modules=("sklearn", "pandas", "numpy", "collections")))
    reqs, _ = infer_requirements(p, env=env)
    expected = {
        f"scikit-learn=={md.version('scikit-learn')}",
        f"pandas=={md.version('pandas')}",
        f"numpy=={md.version('numpy')}",
        f"pyarrow=={md.version('pyarrow')}",
    }
    assert set(reqs["a"].requirements) == expected
    deps = closure(reqs["a"].requirements, env)
    assert deps["scipy"][1] == md.version("scipy")  # scikit-learn's own dependency, pinned


def test_consumers_get_what_their_inputs_need(tmp_path: Path, env: PythonEnvironment) -> None:
    (tmp_path / "shapes.py").write_text("class Box:\n    pass\n", encoding="utf-8")
    p = pipeline(
        Step("load", (0,), ("",), modules=("pandas", "shapes"), outputs=("df", "box")),
        Step("fit", (1,), ("",), modules=("sklearn",), inputs=(("df", "load"),),
             outputs=("model",)),
        Step("score", (2,), ("",), modules=(), inputs=(("model", "fit"), ("box", "load"))),
        Step("other", (3,), ("",), modules=("json",)),
        notebook_path=str(tmp_path / "nb.ipynb"),
    )  # fmt: skip
    reqs, _ = infer_requirements(p, env=env)
    # a DataFrame loaded by `fit` needs pandas there; `score` unpickles a fitted model and a Box
    assert "pandas==3.1.1" in reqs["fit"].requirements
    assert set(reqs["score"].requirements) == {
        "pandas==3.1.1", "pyarrow==20.0.0", "scikit-learn==1.9.1",
    }  # fmt: skip
    assert reqs["score"].local_files == ("shapes.py",)
    assert reqs["other"].requirements == ()
