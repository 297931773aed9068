"""Engine registry: built-ins, registration, unknown and unavailable engines."""

from __future__ import annotations

import pytest

from kale_like import engines
from kale_like.engines.local import LocalEngine
from kale_like.errors import EnvironmentProblem, UsageError


def test_builtins_are_listed() -> None:
    names = engines.available()
    assert {"local", "kfp-local"} <= set(names)
    assert names == sorted(names)


def test_get_local() -> None:
    engine = engines.get("local")
    assert isinstance(engine, LocalEngine)
    assert engine.name == "local"


def test_unknown_engine_lists_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        engines.get("warp-drive")
    assert info.value.exit_code == 2
    assert "local" in str(info.value) and "kfp-local" in str(info.value)


def test_unavailable_engine_is_environment_problem() -> None:
    with engines.engine_registry.scoped():  # the registration ends with the test
        engines.register("broken-test-engine", "kale_like.no_such_module:Engine")
        with pytest.raises(EnvironmentProblem) as info:
            engines.get("broken-test-engine")
    assert info.value.exit_code == 3
    assert "broken-test-engine" not in engines.available()


def test_register_factory() -> None:
    class Dummy:
        name = "dummy-test"

        def run(self, request):  # pragma: no cover - never called
            raise AssertionError

    with engines.engine_registry.scoped():
        engines.register("dummy-test", Dummy)
        assert isinstance(engines.get("dummy-test"), Dummy)
        assert "dummy-test" in engines.available()
    assert "dummy-test" not in engines.available()


@pytest.mark.parametrize("name", sorted(engines.BUILTIN_ENGINES))
def test_every_builtin_loads(name: str) -> None:
    engine = engines.get(name)
    assert engine.name == name and callable(engine.run)


@pytest.mark.parametrize("name", sorted(engines.BUILTIN_ENGINES))
def test_builtin_capabilities(name: str) -> None:
    # KFP's engines carry values as KFP arguments; only the local engine reports the
    # writes the analysis missed.
    can = engines.capabilities(name, engines.get(name))
    assert (engines.KFP_ARGUMENTS in can) == (name != "local")
    assert (engines.RECORDS_OBSERVED in can) == (name == "local")
    assert engines.capabilities(name) == can


def test_declared_capabilities_win() -> None:
    class Plain:
        name = "kfp"
        capabilities = ()

    class Own:
        name = "own-test"
        capabilities = (engines.RECORDS_OBSERVED,)

    assert engines.capabilities("kfp", Plain()) == frozenset()
    assert engines.capabilities("own-test", Own()) == {engines.RECORDS_OBSERVED}
    assert engines.capabilities("own-test") == frozenset()
