"""Build/push orchestration against an injected fake docker-py client (no engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from image_fakes import fake_env

from kale_like.errors import EnvironmentProblem, UsageError
from kale_like.images import build_plans, builder, plan_pipeline
from kale_like.images.wheelhouse import ensure_wheels, index_wheels
from kale_like.model import Pipeline, Step

BASE = "kale-like/base:py3.11"


class FakeImage:
    def __init__(self, client: FakeClient, ref: str) -> None:
        self.c, self.tags = client, [ref]

    def tag(self, repo: str, tag: str) -> None:
        self.c.calls.append(("tag", f"{repo}:{tag}"))
        self.c.local.add(f"{repo}:{tag}")


class FakeImages:
    def __init__(self, client: FakeClient) -> None:
        self.c = client

    def list(self) -> list[FakeImage]:
        return [FakeImage(self.c, ref) for ref in sorted(self.c.local)]

    def get(self, ref: str) -> object:
        if ref in self.c.local:
            return object()
        raise docker.errors.ImageNotFound(f"No such image: {ref}")

    def push(self, repo: str, tag: str, stream: bool, decode: bool) -> Iterator[dict[str, Any]]:
        ref = f"{repo}:{tag}"
        self.c.calls.append(("push", ref))
        if self.c.push_error:
            yield {"errorDetail": {"message": self.c.push_error}, "error": self.c.push_error}
            return
        yield {"status": "Preparing"}
        yield {"status": "Pushed"}
        yield {"aux": {"Tag": tag, "Digest": "sha256:" + "d" * 64, "Size": 1}}
        self.c.remote.add(ref)

    def pull(self, ref: str) -> None:
        self.c.calls.append(("pull", ref))
        if ref not in self.c.remote:
            raise docker.errors.APIError(f"pull access denied for {ref}")
        self.c.local.add(ref)


class FakeAPI:
    def __init__(self, client: FakeClient) -> None:
        self.c = client

    def build(self, **kw: Any) -> Iterator[dict[str, Any]]:
        self.c.calls.append(("build", kw["tag"]))
        self.c.build_kwargs.append(kw)
        ctx = Path(kw["path"])
        self.c.contexts.append(sorted(p.relative_to(ctx).as_posix() for p in ctx.rglob("*")))
        lines = (ctx / "Dockerfile").read_text(encoding="utf-8").splitlines()
        instrs = [x for x in lines if x and not x.startswith("#")]
        for i, instr in enumerate(instrs, 1):
            yield {"stream": f"Step {i}/{len(instrs)} : {instr}\n"}
            if self.c.fail_at == i:
                yield {"stream": " ---> Running in 123\n"}
                yield {"stream": "ERROR: No matching distribution found for numpy==2.4.6\n"}
                msg = "The command returned a non-zero code: 1"
                yield {"error": msg, "errorDetail": {"message": msg}}
                return
            yield {"stream": " ---> Using cache\n" if i < len(instrs) else " ---> abc\n"}
        yield {"aux": {"ID": "sha256:" + "e" * 64}}
        yield {"stream": f"Successfully tagged {kw['tag']}\n"}
        self.c.local.add(kw["tag"])

    def inspect_distribution(self, ref: str) -> dict[str, Any]:
        if self.c.registry_down:
            raise docker.errors.APIError(
                "500 Server Error: Get http://127.0.0.1:5000/v2/: dial tcp 127.0.0.1:5000: "
                "connect: connection refused"
            )
        if ref in self.c.remote:
            return {"Descriptor": {"digest": "sha256:" + "d" * 64}}
        raise docker.errors.APIError("manifest unknown")


class FakeClient:
    def __init__(self) -> None:
        self.local: set[str] = {BASE}
        self.remote: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.build_kwargs: list[dict[str, Any]] = []
        self.contexts: list[list[str]] = []
        self.fail_at: int | None = None
        self.registry_down = False
        self.push_error: str | None = None
        self.images = FakeImages(self)
        self.api = FakeAPI(self)

    def ping(self) -> bool:
        return True


def fake_pip(folder: Path) -> Any:
    """A `pip wheel` stand-in that writes an empty, correctly named wheel per pin."""

    def run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        for arg in cmd[cmd.index(str(folder)) + 1 :]:
            name, _, version = arg.partition("==")
            (folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"PK")
        return subprocess.CompletedProcess(list(cmd), 0, "", "")

    return run


def demo(tmp_path: Path) -> Pipeline:
    (tmp_path / "helpers.py").write_text("import numpy\n", encoding="utf-8")
    steps = (
        Step("load", (1,), ("",), modules=("helpers",)),
        Step("train", (2,), ("",), modules=("sklearn",)),
    )
    return Pipeline("demo", steps, python_version="3.11", notebook_path=str(tmp_path / "n.ipynb"))


def build(tmp_path: Path, client: FakeClient, **kw: Any) -> Any:
    plan = plan_pipeline(demo(tmp_path), env=fake_env(), base_image=BASE, **kw.pop("plan", {}))
    house = tmp_path / "wheels"
    house.mkdir(exist_ok=True)
    return plan, build_plans(
        plan, client=client, wheelhouse=house, pip_runner=fake_pip(house), **kw
    )


def test_builds_each_environment_offline_with_progress(tmp_path: Path) -> None:
    client, lines = FakeClient(), []
    plan, out = build(tmp_path, client, progress=lines.append)
    assert sorted(out.built) == sorted(p.ref for p in plan.plans) and out.skipped == []
    assert all(kw["network_mode"] == "none" and kw["rm"] for kw in client.build_kwargs)
    assert any(line.startswith("Step 1/") for line in lines)
    load_ctx = client.contexts[[p.steps for p in plan.plans].index(("load",))]
    assert "app/helpers.py" in load_ctx and "Dockerfile" in load_ctx
    assert "kale_like/runtime/__init__.py" in load_ctx and "kale_like/cli" not in str(load_ctx)
    assert "wheels/runtime/kfp-2.17.3-py3-none-any.whl" in load_ctx
    assert "wheels/runtime/requirements.txt" in load_ctx
    log = out.logs[plan.images["load"]]
    assert log.rebuilt == ['COPY ["app", "/opt/kale-like/app"]']  # fake cache: last layer only
    assert not list(tmp_path.glob("kale-like-context-*"))


def test_existing_images_are_neither_rebuilt_nor_repushed(tmp_path: Path) -> None:
    client = FakeClient()
    plan, first = build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert len(first.pushed) == 2 and set(first.digests.values()) == {"sha256:" + "d" * 64}
    client.calls.clear()
    _, again = build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert again.built == [] and again.pushed == [] and sorted(again.skipped) == sorted(first.built)
    assert client.calls == []
    # only in the registry (e.g. another machine built it): pulled, not rebuilt
    client.local = {BASE}
    _, third = build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert third.built == [] and [c[0] for c in client.calls] == ["pull", "pull"]


def test_same_content_under_another_registry_is_retagged(tmp_path: Path) -> None:
    client = FakeClient()
    plan, first = build(tmp_path, client)  # local names: kale-like/demo:sha-...
    client.calls.clear()
    _, second = build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert second.built == [] and len(second.skipped) == 2 and len(second.pushed) == 2
    assert sorted(c[0] for c in client.calls) == ["push", "push", "tag", "tag"]
    assert {r.split(":sha-")[1] for r in second.images.values()} == {
        r.split(":sha-")[1] for r in first.images.values()
    }


def test_failed_build_names_the_dockerfile_line_and_log_tail(tmp_path: Path) -> None:
    client = FakeClient()
    client.fail_at = 4  # the runtime layer's pip install
    with pytest.raises(EnvironmentProblem) as err:
        build(tmp_path, client)
    text = str(err.value)
    assert err.value.exit_code == 3 and err.value.kind == "build-failed"
    assert 'Dockerfile line 5: RUN ["python3", "-m", "pip", "install"' in text
    assert "No matching distribution found for numpy==2.4.6" in text
    # the Dockerfile the error names is still there to read, holding the failing line
    dockerfile = Path(err.value.path or "")
    assert dockerfile.name == "Dockerfile" and dockerfile.is_file()
    assert dockerfile.read_text().splitlines()[4].startswith('RUN ["python3", "-m", "pip"')
    assert not (dockerfile.parent / "wheels").exists()  # the wheels are not kept
    shutil.rmtree(dockerfile.parent)


def test_no_docker_engine_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_kw: Any) -> None:
        raise docker.errors.DockerException("Error while fetching server API version")

    monkeypatch.setattr(docker, "from_env", refuse)
    with pytest.raises(EnvironmentProblem) as err:
        builder.connect()
    assert err.value.exit_code == 3 and err.value.kind == "no-docker"
    assert "scripts/docker-up.sh" in (err.value.fix or "")


def test_unreachable_registry_is_named(tmp_path: Path) -> None:
    client = FakeClient()
    client.registry_down = True
    with pytest.raises(EnvironmentProblem) as err:
        build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert err.value.exit_code == 3 and err.value.kind == "registry-unreachable"
    assert "registry 127.0.0.1:5000 " in str(err.value)
    assert client.calls == []  # refused before building anything


def test_refused_push_is_named(tmp_path: Path) -> None:
    client = FakeClient()
    client.push_error = "denied: requested access to the resource is denied"
    with pytest.raises(EnvironmentProblem) as err:
        build(tmp_path, client, plan={"registry": "127.0.0.1:5000/team"}, push=True)
    assert err.value.kind == "registry-unreachable" and "127.0.0.1:5000" in str(err.value)


def test_push_needs_a_registry(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        build(tmp_path, FakeClient(), push=True)


def test_missing_base_image_says_how_to_make_one(tmp_path: Path) -> None:
    client = FakeClient()
    client.local = set()
    with pytest.raises(EnvironmentProblem) as err:
        build(tmp_path, client)
    assert err.value.kind == "base-image-missing" and "docker-up.sh" in (err.value.fix or "")


def test_wheelhouse_fetches_only_missing_wheels(tmp_path: Path) -> None:
    house = tmp_path / "w"
    house.mkdir()
    (house / "numpy-2.4.6-py3-none-any.whl").write_bytes(b"PK")
    calls: list[list[str]] = []

    def runner(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(cmd))
        return fake_pip(house)(cmd)

    got = ensure_wheels(house, ["numpy==2.4.6", "PyYAML==6.0.2"], runner=runner)
    assert [c[-1:] for c in calls] == [["PyYAML==6.0.2"]]
    assert "--no-deps" in calls[0]
    assert set(got) == {"numpy==2.4.6", "pyyaml==6.0.2"}
    assert set(index_wheels(house)) == {"numpy==2.4.6", "pyyaml==6.0.2"}


def test_wheelhouse_failure_is_an_environment_problem(tmp_path: Path) -> None:
    def runner(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(cmd), 1, "", "ERROR: No matching distribution")

    with pytest.raises(EnvironmentProblem) as err:
        ensure_wheels(tmp_path, ["nosuchpkg==1.0"], runner=runner)
    assert err.value.kind == "wheelhouse" and "No matching distribution" in str(err.value)
