"""papermill-style parameter parsing and type checks against the parameters cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from kale_like import params
from kale_like.errors import UsageError
from kale_like.model import Parameter, Pipeline, Step

PIPE = Pipeline(
    name="p",
    steps=(Step("s", (0,), ("pass",)),),
    parameters=(
        Parameter("n", 3, "int"),
        Parameter("ratio", 0.25, "float"),
        Parameter("name", "widget", "str"),
        Parameter("verbose", False, "bool"),
        Parameter("sizes", [1, 2], "list"),
        Parameter("options", {"a": 1}, "dict"),
        Parameter("threshold", None, "none"),
    ),
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("True", True),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("hello world", "hello world"),
        ("None", None),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert params.parse_value(text) == value
    assert type(params.parse_value(text)) is type(value)


def test_from_cli_types_and_order(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("n: 7\nname: fromfile\n")
    out = params.from_cli(
        PIPE,
        params=[["ratio", "2"], ["name", "42"], ["threshold", "7"]],
        raw=[["name", "raw text"]],
        yaml_strings=["verbose: true"],
        files=[f],
    )
    assert out == {"n": 7, "name": "raw text", "verbose": True, "ratio": 2, "threshold": 7}
    resolved = params.resolve(PIPE, out)
    assert resolved["ratio"] == 2 and resolved["sizes"] == [1, 2]


def test_string_parameter_keeps_text() -> None:
    assert params.from_cli(PIPE, params=[["name", "42"]]) == {"name": "42"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("n", 1.5), ("n", True), ("ratio", "x"), ("verbose", 1), ("sizes", "a"), ("options", [1])],
)
def test_type_mismatch_names_parameter(name: str, value: object) -> None:
    with pytest.raises(UsageError) as info:
        params.resolve(PIPE, {name: value})
    assert repr(name) in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("name", ["n", "ratio", "name", "verbose", "sizes", "options"])
def test_type_mismatch_fix_is_a_working_command(name: str) -> None:
    # The suggested `-p NAME VALUE`, split as a shell would, gives back the default.
    import shlex

    with pytest.raises(UsageError) as info:
        params.resolve(PIPE, {name: object()})
    fix = info.value.fix or ""
    assert fix.startswith(("pass a ", "pass an "))
    flag, got_name, text = shlex.split(fix.split("e.g. ", 1)[1])
    default = next(p.default for p in PIPE.parameters if p.name == name)
    assert (flag, got_name) == ("-p", name)
    assert params.from_cli(PIPE, params=[(name, text)]) == {name: default}


def test_unknown_parameter_lists_valid() -> None:
    with pytest.raises(UsageError) as info:
        params.from_cli(PIPE, params=[["alpha", "1"]])
    assert "'alpha'" in str(info.value) and "ratio" in str(info.value)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        params.from_cli(PIPE, yaml_strings=["[1, 2]"])
    with pytest.raises(UsageError):
        params.from_cli(PIPE, files=[tmp_path / "missing.yaml"])
