"""Marshal registry: every built-in backend round-trips exactly; dispatch, errors, laziness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from extras import require

from kale_like.errors import UsageError
from kale_like.runtime import marshal
from kale_like.runtime.artifacts import load_value, read_meta, save_value


def roundtrip(value: Any, tmp_path: Path, name: str = "v") -> tuple[Any, str]:
    path = tmp_path / name
    digest = save_value(name, value, path)
    meta = read_meta(path)
    assert meta["digest"] == digest and meta["variable"] == name
    return load_value(path), meta["backend"]


@pytest.mark.parametrize(
    "value",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.random.default_rng(0).random((5, 3))),
        np.arange(20.0)[::3],  # strided view
        np.array(3.5),
        np.zeros((0, 4)),
        np.array(["a", "bc"]),
        np.array([np.nan, 1.0, np.inf]),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array([1 + 2j]),
    ],
)
def test_numpy_arrays(value: np.ndarray, tmp_path: Path) -> None:
    back, backend = roundtrip(value, tmp_path)
    assert backend == "numpy"
    assert type(back) is np.ndarray and back.dtype == value.dtype and back.shape == value.shape
    np.testing.assert_array_equal(back, value)
    assert back.flags.writeable
    # Write detection compares the loaded array with the digest saved beside it.
    numpy_backend = marshal.registry.get("numpy")
    saved = read_meta(tmp_path / "v")["digest"]
    assert numpy_backend.digest_of(value) == saved
    assert numpy_backend.reproduces(back, saved) and numpy_backend.digest_of(back) == saved
    assert numpy_backend.matches_saved(back, tmp_path / "v")
    if back.size:
        back.ravel(order="K").view(np.uint8)[-1] ^= 1  # one bit of the last element
        assert not numpy_backend.matches_saved(back, tmp_path / "v")
    back.shape = (1, *back.shape)  # shape is state too
    assert not numpy_backend.matches_saved(back, tmp_path / "v")


def test_object_arrays_use_pickle(tmp_path: Path) -> None:
    value = np.array([{"a": 1}, None], dtype=object)
    back, backend = roundtrip(value, tmp_path)
    assert backend == "cloudpickle" and list(back) == list(value)


def test_dataframe_with_index_and_dtypes_uses_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "i": np.arange(5, dtype=np.int16),
            "f": [0.5, np.nan, 2.0, 3.0, 4.0],
            "s": pd.array(["a", "b", None, "d", "e"], dtype="string"),
            "c": pd.Categorical(["x", "y", "x", "y", "x"]),
            "t": pd.date_range("2021-01-01", periods=5, freq="D", tz="UTC"),
            "b": [True, False, True, True, False],
        },
        index=pd.Index([10, 20, 30, 40, 50], name="key"),
    )
    back, backend = roundtrip(df, tmp_path)
    assert backend == "pandas"
    assert (tmp_path / "v" / "value.parquet").exists()
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_series_keeps_name_and_index(tmp_path: Path) -> None:
    s = pd.Series([1.5, 2.5], index=pd.Index(["a", "b"], name="k"), name="price")
    back, _ = roundtrip(s, tmp_path)
    pd.testing.assert_series_equal(back, s, check_exact=True)
    unnamed = pd.Series([1, 2, 3])
    back2, _ = roundtrip(unnamed, tmp_path, "u")
    pd.testing.assert_series_equal(back2, unnamed, check_exact=True)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"mixed": [1, "a", 2.5]}),  # object column of mixed types
        pd.DataFrame({0: [1, 2], 1: [3, 4]}),  # non-string column names
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
    ],
)
def test_frames_parquet_cannot_represent_fall_back_to_pickle(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    back, backend = roundtrip(frame, tmp_path)
    assert backend == "pandas" and (tmp_path / "v" / "value.pkl").exists()
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_sklearn_model_uses_joblib(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(x, y)
    back, backend = roundtrip(model, tmp_path)
    assert backend == "joblib" and type(back) is LogisticRegression
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize(
    ("value", "backend"),
    [
        (1, "json"),
        (1.0, "json"),
        (True, "json"),
        (None, "json"),
        ("é ✓", "json"),
        ({"a": [1, 2.0, {"b": None}]}, "json"),
        ((1, 2), "cloudpickle"),
        ({1: "int key"}, "cloudpickle"),
        ([1, (2, 3)], "cloudpickle"),
        ({1, 2}, "cloudpickle"),
        (float("nan"), "cloudpickle"),
        (b"bytes", "cloudpickle"),
        (np.float64(1.5), "cloudpickle"),
    ],
)
def test_exact_types_survive(value: Any, backend: str, tmp_path: Path) -> None:
    back, used = roundtrip(value, tmp_path)
    assert used == backend
    assert type(back) is type(value)
    if value == value:  # NaN is never equal to itself
        assert back == value
    if isinstance(value, dict):
        assert [type(k) for k in back] == [type(k) for k in value]


def test_lambda_and_closure_by_value(tmp_path: Path) -> None:
    k = 4

    def make():
        return lambda v: v * k

    back, backend = roundtrip(make(), tmp_path)
    assert backend == "cloudpickle" and back(2) == 8


def test_registry_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        marshal.registry.get("nope")
    for name in ("json", "numpy", "pandas", "joblib", "cloudpickle"):
        assert name in str(info.value)


class _Upper:
    name = "upper-text"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.isupper()

    def save(self, value: Any, directory: Path) -> str:
        (directory / "value.txt").write_text(value.lower())
        return marshal.file_digest(directory / "value.txt")

    def load(self, directory: Path) -> Any:
        return (directory / "value.txt").read_text().upper()


def test_registered_backend_is_tried_first(tmp_path: Path) -> None:
    reg = marshal.default_registry()
    reg.register(_Upper())
    assert reg.for_value("ABC").name == "upper-text"
    assert reg.for_value("abc").name == "json"
    assert reg.get("upper-text").name == "upper-text"


def test_scoped_registrations_are_undone() -> None:
    reg = marshal.default_registry()
    with reg.scoped():
        reg.register(_Upper())
        assert reg.names()[0] == "upper-text"
    assert "upper-text" not in reg.names()
    assert reg.for_value("ABC").name == "json"


# Entry-point backends, from a package on disk: tests/test_registry.py::test_marshal_entry_points


def test_saving_plain_values_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from kale_like.runtime.artifacts import save_value, load_value\n"
        f"save_value('x', {{'a': [1, 2]}}, {str(tmp_path / 'x')!r})\n"
        f"save_value('y', (1, 2), {str(tmp_path / 'y')!r})\n"
        f"load_value({str(tmp_path / 'x')!r}); load_value({str(tmp_path / 'y')!r})\n"
        "print(json.dumps(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'joblib', 'torch',"
        " 'sklearn', 'nbformat', 'nbconvert', 'kfp', 'papermill') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_torch_tensor_and_module(tmp_path: Path) -> None:
    torch = require("torch")
    tensor = torch.arange(6.0).reshape(2, 3)
    back, backend = roundtrip(tensor, tmp_path)
    assert backend == "torch" and torch.equal(back, tensor)
    module = torch.nn.Linear(3, 1)
    back_module, backend = roundtrip(module, tmp_path, "m")
    assert backend == "torch"
    assert torch.equal(back_module(tensor), module(tensor))


def test_keras_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keras 3 runs on the torch that set-up installs (its default, TensorFlow, is not); read
    # at import. KERAS_HOME keeps its config file out of the user's home.
    if "KERAS_BACKEND" not in os.environ:
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    keras = require("keras")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    back, backend = roundtrip(model, tmp_path)
    x = np.ones((1, 2), dtype="float32")
    assert backend == "keras"
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0))
    # A Model subclass a step cell defines is saved by name: the consumer could not rebuild it.
    namespace: dict[str, Any] = {"keras": keras, "__name__": "__main__"}
    exec("class Net(keras.Model):\n    pass", namespace)
    assert marshal.registry.for_value(namespace["Net"]()).name == "cloudpickle"


def test_aliased_outputs_share_one_group_file(tmp_path: Path) -> None:
    from kale_like.runtime.artifacts import load_inputs, save_outputs, share_groups

    shared = {"k": [1, 2]}
    values = {"a": shared, "b": shared, "inner": shared["k"], "other": [1, 2], "n": 5, "m": 5}
    assert share_groups(values) == [["a", "b", "inner"], ["other"], ["n"], ["m"]]
    paths = {k: str(tmp_path / k) for k in values}
    digests = save_outputs(values, paths)
    assert len(set(digests.values())) == len(values) - 1  # n and m are equal values
    assert (tmp_path / "a" / "group.pkl").stat().st_ino == (
        tmp_path / "b" / "group.pkl"
    ).stat().st_ino
    got = load_inputs({k: paths[k] for k in ("a", "b", "inner")})
    assert got["a"] is got["b"] and got["a"]["k"] is got["inner"]


def test_large_array_digest_is_a_sha256_tree_whatever_the_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from kale_like.runtime import marshal_io

    value = np.arange(9_000_000, dtype=np.float64)  # 72 MB: above the tree threshold
    monkeypatch.setattr(marshal_io, "_blake3", lambda: None)
    digests = []
    for spare in (0, 2):
        monkeypatch.setattr(marshal_io, "_spare_cores", lambda s=spare: s)
        digests.append(save_value("a", value, tmp_path / f"a{spare}"))
    data = (tmp_path / "a0" / "value.npy").read_bytes()
    header_len = len(data) - value.nbytes
    tree = hashlib.sha256(
        b"kale-like-sha256-tree-v1\0" + hashlib.sha256(data[:header_len]).digest()
    )
    body = memoryview(data)[header_len:]
    for i in range(0, len(body), marshal_io._CHUNK):
        tree.update(hashlib.sha256(body[i : i + marshal_io._CHUNK]).digest())
    assert digests == [tree.hexdigest(), tree.hexdigest()]
    back = load_value(tmp_path / "a2")
    np.testing.assert_array_equal(back, value)
    numpy_backend = marshal.registry.get("numpy")
    assert numpy_backend.digest_of(back) == digests[0]
    # A plain hex digest of a large array may be a strided view's: never taken as known.
    assert not numpy_backend.reproduces(back, digests[0])


def test_large_array_digest_with_blake3(tmp_path: Path) -> None:
    blake3 = require("blake3")
    import hashlib

    value = np.arange(9_000_000, dtype=np.float64)
    digest = save_value("a", value, tmp_path / "a")
    data = (tmp_path / "a" / "value.npy").read_bytes()
    header_len = len(data) - value.nbytes
    want = blake3.blake3(b"kale-like-blake3-v1\0" + hashlib.sha256(data[:header_len]).digest())
    want.update(data[header_len:])
    assert digest == "blake3:" + want.hexdigest()
    back = load_value(tmp_path / "a")
    np.testing.assert_array_equal(back, value)
    numpy_backend = marshal.registry.get("numpy")
    assert numpy_backend.reproduces(back, digest) and numpy_backend.digest_of(back) == digest
    back[-1] = -1.0
    assert numpy_backend.digest_of(back) != digest
