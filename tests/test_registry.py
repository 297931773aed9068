"""kale_like.registry.Registry, and entry-point discovery of the three registries built on it.

Plugins are real distributions written to ``tmp_path`` (``fake_pkg-1.0.dist-info`` with
``entry_points.txt``, next to the module it names) and put on ``sys.path``, so
``importlib.metadata`` finds them as it finds an installed package.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from kale_like import engines
from kale_like.engines.local import LocalEngine
from kale_like.errors import EnvironmentProblem, UsageError
from kale_like.registry import BUILTIN, ENTRY_POINT, REGISTERED, Registry
from kale_like.runtime import marshal
from kale_like.sweep import algorithms
from kale_like.sweep.space import Dimension


@pytest.fixture
def module_name() -> Any:
    """A fresh module name (never imported before), dropped from sys.modules afterwards."""
    name = f"kl_fake_{uuid.uuid4().hex[:12]}"
    yield name
    sys.modules.pop(name, None)


def write_module(root: Path, name: str, source: str) -> None:
    (root / f"{name}.py").write_text(textwrap.dedent(source))


def fake_distribution(
    root: Path, monkeypatch: pytest.MonkeyPatch, entry_points_txt: str | bytes
) -> None:
    """An installed-looking ``fake-pkg`` 1.0 under ``root``, which goes on sys.path."""
    info = root / "fake_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-pkg\nVersion: 1.0\n")
    text = entry_points_txt
    if isinstance(text, bytes):
        (info / "entry_points.txt").write_bytes(text)
    else:
        (info / "entry_points.txt").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(root))


def _things(**kw: Any) -> Registry[Any]:
    return Registry(
        "thing",
        builtins={"b": 2, "a": 1},  # objects: a string would name an import
        unknown_kind="unknown-thing",
        unknown_fix="pick one of {names}",
        unavailable_kind="thing-unavailable",
        unavailable_fix="pip install 'kale-like[things]' for {name}",
        **kw,
    )


# -- the class ---------------------------------------------------------------------------------
def test_register_get_and_names() -> None:
    reg = _things()
    reg.register("c", 3)
    assert reg.get("c") == 3 and reg.get("a") == 1
    assert reg.names() == ["b", "a", "c"]  # as they came
    assert _things(sort_names=True).names() == ["a", "b"]
    assert "c" in reg and "zz" not in reg
    reg.register("a", 10)  # explicit registration replaces a built-in
    assert reg.get("a") == 10
    assert reg.order(BUILTIN) == ["b"] and reg.order(REGISTERED) == ["c", "a"]
    reg.unregister("a")  # the built-in comes back
    assert reg.get("a") == 1


def test_unknown_name_is_a_usage_error_listing_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        _things().get("nope")
    err = info.value
    assert err.kind == "unknown-thing" and err.exit_code == 2
    assert "unknown thing 'nope'; valid things: b, a" in err.message
    assert err.fix == "pick one of b, a"


def test_names_fold_through_the_key() -> None:
    reg = Registry[int]("algorithm", key=lambda n: n.strip().lower())
    reg.register(" Grid ", 1)
    assert reg.get("GRID") == 1 and reg.names() == ["grid"]


def test_string_targets_load_lazily_and_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(tmp_path, module_name, "class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[Any] = []
    reg = _things(prepare=lambda cls: made.append(cls) or cls())
    reg.register("lazy", f"{module_name}:Thing")
    assert "lazy" in reg.names()
    assert module_name not in sys.modules  # naming it imported nothing
    first = reg.get("lazy")
    assert type(first).__name__ == "Thing" and module_name in sys.modules
    assert reg.get("lazy") is first and len(made) == 1  # loaded and prepared once


def test_import_error_is_an_environment_problem_naming_the_fix() -> None:
    reg = _things()
    reg.register("gone", "kale_like.no_such_module:Thing")
    reg.register("no-attr", "kale_like.errors:NoSuchThing")
    for name in ("gone", "no-attr"):
        with pytest.raises(EnvironmentProblem) as info:
            reg.get(name)
        assert info.value.exit_code == 3 and info.value.kind == "thing-unavailable"
        assert info.value.fix == f"pip install 'kale-like[things]' for {name}"
        assert f"thing {name!r} is not available here" in str(info.value)


def test_a_kale_error_while_importing_passes_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(
        tmp_path,
        module_name,
        """
        from kale_like.errors import missing_extra
        raise missing_extra("optuna", "sweep", "this thing")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = _things()
    reg.register("needs-optuna", f"{module_name}:Thing")
    with pytest.raises(EnvironmentProblem) as info:
        reg.get("needs-optuna")
    assert info.value.kind == "missing-package" and "kale-like[sweep]" in str(info.value)


def test_a_bug_in_our_own_module_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(tmp_path, module_name, "raise RuntimeError('a bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = _things()
    reg.register("buggy", f"{module_name}:Thing")
    with pytest.raises(RuntimeError, match="a bug"):
        reg.get("buggy")


def test_scoped_registrations_are_undone() -> None:
    reg = _things()
    with reg.scoped() as same:
        assert same is reg
        reg.register("temp", 1)
        reg.unregister("a")
        assert "temp" in reg and "a" in reg  # unregistering a built-in keeps the built-in
    assert "temp" not in reg and reg.names() == ["b", "a"]


def test_copy_is_independent() -> None:
    reg = _things()
    twin = reg.copy()
    twin.register("only-twin", 1)
    reg.register("only-reg", 2)
    assert "only-twin" not in reg and "only-reg" not in twin


# -- entry points, found on disk ---------------------------------------------------------------
def test_entry_points_extend_without_shadowing_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(tmp_path, module_name, "A = 'plugin-a'\nC = 'plugin-c'\n")
    fake_distribution(
        tmp_path,
        monkeypatch,
        f"""
        [kale_like.test_things]
        a = {module_name}:A
        c = {module_name}:C
        """,
    )
    reg = _things(group="kale_like.test_things")
    assert reg.names() == ["b", "a", "c"] and reg.order(ENTRY_POINT) == ["c"]
    assert reg.get("a") == 1 and reg.get("c") == "plugin-c"
    plugins_first = _things(group="kale_like.test_things", entry_points_replace_builtins=True)
    assert plugins_first.get("a") == "plugin-a" and plugins_first.get("b") == 2


def test_a_broken_entry_point_is_reported_only_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(tmp_path, module_name, "C = 'plugin-c'\n")
    fake_distribution(
        tmp_path,
        monkeypatch,
        f"""
        [kale_like.test_things]
        c = {module_name}:C
        broken = {module_name}_missing:Thing
        """,
    )
    reg = _things(group="kale_like.test_things")
    assert reg.get("a") == 1 and reg.get("c") == "plugin-c"
    assert "broken" in reg.names()
    with pytest.raises(EnvironmentProblem) as info:
        reg.get("broken")
    assert "fake-pkg" in str(info.value) and info.value.kind == "thing-unavailable"
    assert "fake-pkg" in (info.value.fix or "")


def test_broken_metadata_leaves_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # entry_points.txt that is not UTF-8 makes importlib.metadata itself raise
    fake_distribution(tmp_path, monkeypatch, b"\xff\xfe[kale_like.test_things]\nc = x:C\n")
    reg = _things(group="kale_like.test_things")
    assert reg.names() == ["b", "a"] and reg.get("a") == 1


# -- the three registries of kale_like ---------------------------------------------------------
def test_engine_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    before = engines.available()  # read before the fake package is on sys.path
    write_module(
        tmp_path,
        module_name,
        """
        class FakeEngine:
            name = "fake-engine"

            def run(self, request):
                raise AssertionError("never run")
        """,
    )
    fake_distribution(
        tmp_path,
        monkeypatch,
        f"""
        [kale_like.engines]
        fake-engine = {module_name}:FakeEngine
        local = {module_name}:FakeEngine
        broken-engine = {module_name}_missing:Engine
        """,
    )
    with engines.engine_registry.scoped(rediscover=True):
        names = engines.available()
        assert {"fake-engine", "broken-engine", "local", "kfp"} <= set(names)
        assert names == sorted(names)
        assert type(engines.get("fake-engine")).__name__ == "FakeEngine"
        assert isinstance(engines.get("local"), LocalEngine)  # a plugin never shadows it
        with pytest.raises(EnvironmentProblem) as info:
            engines.get("broken-engine")
        assert info.value.kind == "engine-unavailable" and "fake-pkg" in str(info.value)
    assert engines.available() == before


def test_sweep_algorithm_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    before = algorithms.names()  # read before the fake package is on sys.path
    write_module(
        tmp_path,
        module_name,
        """
        class Descending:
            name = "descending"

            def __init__(self, dims, **_):
                self.values = sorted(dims[0].grid(), reverse=True)

            def ask(self, number):
                return {"n": self.values[number]}

            def tell(self, trial):
                pass

        Descending.katib_algorithm = "random"
        """,
    )
    fake_distribution(
        tmp_path,
        monkeypatch,
        f"""
        [kale_like.sweep_algorithms]
        Descending = {module_name}:Descending
        grid = {module_name}:Descending
        broken-algorithm = {module_name}_missing:Algo
        """,
    )
    dims = [Dimension("n", "int", "int", low=1, high=3)]
    with algorithms.algorithm_registry.scoped(rediscover=True):
        assert algorithms.names()[:4] == ["grid", "random", "bayesian", "tpe"]
        assert {"descending", "broken-algorithm"} <= set(algorithms.names())
        algo = algorithms.make_algorithm("DESCENDING", dims, seed=0, direction="maximize")
        assert [algo.ask(i)["n"] for i in range(3)] == [3, 2, 1]
        assert algorithms.katib_name("descending") == "random"
        grid = algorithms.make_algorithm("grid", dims, seed=0, direction="maximize")
        assert type(grid).__name__ == "GridSearch"  # the built-in wins
        with pytest.raises(EnvironmentProblem, match="fake-pkg"):
            algorithms.make_algorithm("broken-algorithm", dims, seed=0, direction="maximize")
    assert algorithms.names() == before


def test_marshal_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    write_module(
        tmp_path,
        module_name,
        """
        from kale_like.runtime.marshal import file_digest

        class Upper:
            name = "upper-text"

            def accepts(self, value):
                return isinstance(value, str) and value.isupper()

            def save(self, value, directory):
                (directory / "value.txt").write_text(value.lower())
                return file_digest(directory / "value.txt")

            def load(self, directory):
                return (directory / "value.txt").read_text().upper()
        """,
    )
    fake_distribution(
        tmp_path,
        monkeypatch,
        f"""
        [kale_like.marshal]
        upper-text = {module_name}:Upper
        broken-backend = {module_name}_missing:Backend
        """,
    )
    reg = marshal.default_registry()  # a private registry: reads entry points afresh
    assert reg.names()[:2] == ["upper-text", "broken-backend"] and "json" in reg.names()
    assert reg.for_value("ABC").name == "upper-text"
    assert reg.for_value("abc").name == "json"  # the broken plugin breaks no save
    backend = reg.get("upper-text")
    (tmp_path / "v").mkdir()
    backend.save("ABC", tmp_path / "v")
    assert backend.load(tmp_path / "v") == "ABC"
    with pytest.raises(EnvironmentProblem, match="fake-pkg"):
        reg.get("broken-backend")
    with pytest.raises(UsageError, match="valid backends: broken-backend, cloudpickle"):
        reg.get("nope")
