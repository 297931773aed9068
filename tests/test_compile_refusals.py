"""KFP refusals of a generated pipeline, told in the user's words with a fix that works.

KFP checks some values only while compiling (quantities Kubernetes takes but KFP does not)
and would check names; the refusal must name the notebook, cell, tag or variable, and never
send the user to the step settings when the cause is something else.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ir_builders import diamond

from kale_like.api.compilation import compile as compile_pipeline
from kale_like.errors import InputError
from kale_like.model import Step, StepSettings

# Tags our grammar takes (Kubernetes quantities) that KFP 2.17 refuses at compile time.
REFUSED_SETTINGS = [
    "limit:memory:1e3",
    "limit:memory:2k",
    "request:memory:1.5Gi",
    "limit:memory:500m",
    "limit:cpu:2Gi",
    "request:cpu:1e3",
    "limit:nvidia.com/gpu:0.5",
    "request:nvidia.com/gpu:500m",
]


def _settings_notebook(path: Path, tag: str) -> Path:
    from nb_kit import cell, write_notebook

    return write_notebook(
        path,
        cell("a = 1", "step:load"),
        cell("b = a + 1", "step:train"),
        cell("print(b)", tag),  # the tag sits on the step's second cell
    )


@pytest.mark.parametrize("tag", REFUSED_SETTINGS)
def test_refused_setting_names_notebook_cell_tag_and_a_fix_that_works(
    tag: str, tmp_path: Path
) -> None:
    import re

    nb = _settings_notebook(tmp_path / "nb.ipynb", tag)
    with pytest.raises(InputError) as err:
        compile_pipeline(nb, tmp_path / "out")
    e = err.value
    assert (e.kind, e.cell, e.tag, e.path, e.exit_code) == ("kfp-compile-error", 2, tag, str(nb), 2)
    assert "step 'train'" in e.message and "KFP refused" in e.message
    assert not (tmp_path / "out").exists()
    # the fix's example, put in place of the tag, compiles
    example = re.search(r"e\.g\. (\S+)", e.fix or "")
    assert example, e.fix
    fixed = _settings_notebook(tmp_path / "fixed.ipynb", example.group(1))
    compile_pipeline(fixed, tmp_path / "out2")


@pytest.mark.parametrize(
    ("tag", "same_amount"),
    [("request:memory:1.5Gi", "request:memory:1536Mi"), ("limit:memory:2k", "limit:memory:2K"),
     ("request:cpu:1e3", "request:cpu:1000")],
)  # fmt: skip
def test_refused_quantity_fix_keeps_the_amount(tag: str, same_amount: str, tmp_path: Path) -> None:
    nb = _settings_notebook(tmp_path / "nb.ipynb", tag)
    with pytest.raises(InputError) as err:
        compile_pipeline(nb, tmp_path / "out")
    assert f"e.g. {same_amount} (the same amount)" in (err.value.fix or "")


def test_refused_setting_from_metadata_says_so(tmp_path: Path) -> None:
    # A setting no cell carries (Kale's steps_defaults) names the step, not a cell tag.
    bad = dataclasses.replace(
        diamond(),
        steps=(Step("s", (0,), ("x = 1",), settings=StepSettings(limits=(("memory", "1.5G"),))),),
    )
    with pytest.raises(InputError) as err:
        compile_pipeline(bad, tmp_path / "out")
    assert err.value.tag is None and "'limit:memory:1.5G' of step 's'" in err.value.message
    assert "limit:memory:1500M (the same amount)" in (err.value.fix or "")


def test_a_refused_name_is_told_in_the_users_names_not_as_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names are made KFP-safe (test_codegen_names.py); a future KFP rule they miss must still
    # name the variable as the user wrote it and never send the user to the step settings.
    import re

    from nb_kit import cell, write_notebook

    from kale_like.codegen import names

    monkeypatch.setattr(names, "kfp_base", lambda name, lower=False: "_bad")
    nb = write_notebook(
        tmp_path / "nb.ipynb", cell("Δ = 1", "step:load"), cell("b = Δ + 1", "step:train")
    )
    with pytest.raises(InputError) as err:
        compile_pipeline(nb, tmp_path / "out")
    e = err.value
    assert e.kind == "kfp-compile-error" and e.exit_code == 2 and e.path == str(nb)
    assert "_bad (the variable 'Δ' of step 'load')" in e.message and e.cell == 0
    assert "setting" not in (e.fix or "") and "rename the variable 'Δ'" in (e.fix or "")
    assert not (tmp_path / "out").exists()
    # the fix works (even with the broken mangling still in place)
    new_name = re.search(r"e\.g\. (\w+)", e.fix or "")
    assert new_name and new_name.group(1) == "Delta"
    fixed = write_notebook(
        tmp_path / "fixed.ipynb",
        cell("Delta = 1", "step:load"),
        cell("b = Delta + 1", "step:train"),
    )
    compile_pipeline(fixed, tmp_path / "out")


def test_refusals_outside_the_generated_module_do_not_blame_settings(tmp_path: Path) -> None:
    from kale_like.kubeflow.errors import compile_refusal

    dsl = tmp_path / "p.py"
    dsl.write_text("x = 1\n", encoding="utf-8")
    err = compile_refusal(ValueError("something KFP-internal"), dsl, diamond())
    assert err.kind == "kfp-compile-error" and "something KFP-internal" in err.message
    assert "not caused by a step setting" in (err.fix or "")
