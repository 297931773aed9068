"""compile: DSL + YAML written atomically; the YAML comes from kfp.compiler and loads back."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from corpus_kit import assert_step_settings
from ir_builders import STEP_SETTINGS_EXPECTED, all_settings, diamond, step_settings
from nb_kit import notebook as tagged_notebook

from kale_like.api.compilation import compile as compile_pipeline
from kale_like.codegen.names import allocate_names
from kale_like.codegen.workspace import ancestors as workspace_ancestors
from kale_like.errors import InputError
from kale_like.kubeflow.compile import compile_dsl
from kale_like.model import Step, StepSettings

ROOT = Path(__file__).resolve().parent.parent


def _yaml(path: Path) -> dict[str, Any]:
    """The pipeline spec, with the platform spec (a second YAML document) merged in."""
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    merged = dict(docs[0])
    for extra in docs[1:]:
        merged.update(extra)
    return merged


def _executor(doc: dict[str, Any], display: str) -> tuple[str, dict[str, Any]]:
    """(task name, executor container) of the task whose display name is ``display``."""
    for name, task in doc["root"]["dag"]["tasks"].items():
        if task["taskInfo"]["name"] == display:
            comp = doc["components"][task["componentRef"]["name"]]
            return name, doc["deploymentSpec"]["executors"][comp["executorLabel"]]["container"]
    raise KeyError(display)


def test_yaml_loads_back_with_typed_inputs(tmp_path: Path) -> None:
    from kfp.components import load_component_from_file

    result = compile_pipeline(diamond(), tmp_path / "out")
    assert result.dsl_path == tmp_path / "out" / "diamond-demo.py"
    assert result.yaml_path == tmp_path / "out" / "diamond-demo.yaml"
    assert sorted(os.listdir(tmp_path / "out")) == ["diamond-demo.py", "diamond-demo.yaml"]
    component = load_component_from_file(str(result.yaml_path))
    inputs = component.component_spec.inputs
    types = {name: spec.type for name, spec in inputs.items()}
    assert types == {
        "n": "Integer",
        "scale": "Float",
        "label": "String",
        "verbose": "Boolean",
        "sizes": "List",
        "options": "Dict",
        "threshold": "String",
        "learning_rate": "Float",
    }
    defaults = {name: spec.default for name, spec in inputs.items()}
    assert defaults["n"] == 10 and defaults["scale"] == 2.5 and defaults["label"] == "demo"
    assert defaults["verbose"] is False and defaults["learning_rate"] == 0.01
    assert defaults["threshold"] == "null"  # a None default travels as JSON text
    assert component.name == "diamond-demo"


def test_yaml_tasks_follow_the_steps_and_edges(tmp_path: Path) -> None:
    pipe = diamond()
    doc = _yaml(compile_pipeline(pipe, tmp_path).yaml_path)
    tasks = doc["root"]["dag"]["tasks"]
    by_display = {t["taskInfo"]["name"]: (n, t) for n, t in tasks.items()}
    assert sorted(by_display) == sorted(pipe.step_names)
    for step in pipe.steps:
        _, task = by_display[step.name]
        deps = {tasks[d]["taskInfo"]["name"] for d in task.get("dependentTasks", [])}
        # every ancestor's workspace artifact is an input too (codegen/workspace.py)
        assert deps == set(step.after) | set(workspace_ancestors(pipe, step))
        arts = task.get("inputs", {}).get("artifacts", {})
        producers = {a["taskOutputArtifact"]["producerTask"] for a in arts.values()}
        expected = {p for _, p in step.inputs} | {p for _, p in step.state_inputs}
        expected |= set(workspace_ancestors(pipe, step))
        assert {tasks[p]["taskInfo"]["name"] for p in producers} == expected


def test_step_settings_reach_the_yaml(tmp_path: Path) -> None:
    doc = _yaml(compile_pipeline(step_settings(), tmp_path).yaml_path)
    tasks = doc["root"]["dag"]["tasks"]
    for step, expected in STEP_SETTINGS_EXPECTED.items():
        name, container = _executor(doc, step)
        if "image" in expected:
            assert container["image"] == expected["image"]
        limits = expected.get("limits", {})
        resources = container.get("resources", {})
        if limits:
            assert resources["resourceCpuLimit"] == limits["cpu"]
            assert resources["resourceMemoryLimit"] == limits["memory"]
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
            assert resources["accelerator"]["resourceCount"] == limits["nvidia.com/gpu"]
        if "cache" in expected:
            enabled = tasks[name]["cachingOptions"].get("enableCache", False)
            assert enabled is (expected["cache"] == "enabled")


def test_kubernetes_settings_reach_the_platform_spec(tmp_path: Path) -> None:
    doc = _yaml(compile_pipeline(all_settings(), tmp_path).yaml_path)
    _, container = _executor(doc, "work")
    assert {"name": "MODE", "value": "train"} in container["env"]
    assert container["resources"]["resourceCpuRequest"] == "1"
    assert container["resources"]["accelerator"]["resourceType"] == "amd.com/gpu"
    executors = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    (k8s,) = executors.values()
    assert k8s["activeDeadlineSeconds"] == "600"
    assert k8s["nodeSelector"]["labels"] == {"disktype": "ssd"}
    assert k8s["podMetadata"]["labels"] == {"team": "ml"}
    assert k8s["podMetadata"]["annotations"] == {"example.com/owner": "data team"}
    (secret,) = k8s["secretAsEnv"]
    assert secret["secretName"] == "db-creds"
    assert {(e["secretKey"], e["envVar"]) for e in secret["keyToEnv"]} == {
        ("user", "DB_USER"),
        ("password", "DB_PASSWORD"),
    }
    (pvc,) = k8s["pvcMount"]
    assert pvc["mountPath"] == "/mnt/data" and "data-pvc" in json.dumps(pvc)
    assert {t["key"] for t in k8s["tolerations"]} == {"gpu", "spot"}
    retry = doc["root"]["dag"]["tasks"]["work"]["retryPolicy"]
    assert retry["maxRetryCount"] == 3
    # Secrets travel by reference: no secret value can be in the YAML, only names.
    assert "password" in json.dumps(secret) and "DB_PASSWORD" in json.dumps(secret)


def test_compile_is_byte_deterministic(tmp_path: Path) -> None:
    a = compile_pipeline(diamond(), tmp_path / "a")
    b = compile_pipeline(diamond(), tmp_path / "b")
    assert a.dsl_path.read_bytes() == b.dsl_path.read_bytes()
    assert a.yaml_path.read_bytes() == b.yaml_path.read_bytes()


def _body(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]


def test_dsl_file_is_standalone(tmp_path: Path) -> None:
    result = compile_pipeline(diamond(), tmp_path)
    expected = _yaml(result.yaml_path)
    expected_body = _body(result.yaml_path)
    result.yaml_path.unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(result.dsl_path)], check=True, env=env, cwd=tmp_path.parent)
    # Same YAML; only KFP's own comment header may order dict defaults differently.
    assert _yaml(result.yaml_path) == expected
    assert _body(result.yaml_path) == expected_body


COMPILE_IN_SUBPROCESS = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from ir_builders import diamond
from kale_like.api.compilation import compile
compile(diamond(), sys.argv[1])
"""


def test_compile_is_byte_deterministic_across_processes(tmp_path: Path) -> None:
    # Hash seeds 2 and 3 order protobuf maps differently (dict defaults in KFP's header).
    code = COMPILE_IN_SUBPROCESS.format(root=str(ROOT), tests=str(ROOT / "tests"))
    for seed in ("2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / seed)], check=True, env=env)
    for name in ("diamond-demo.py", "diamond-demo.yaml"):
        assert (tmp_path / "2" / name).read_bytes() == (tmp_path / "3" / name).read_bytes()


def test_refused_setting_writes_nothing(tmp_path: Path) -> None:
    bad = dataclasses.replace(
        step_settings(),
        steps=(Step("s", (0,), ("x = 1",), settings=StepSettings(limits=(("cpu", "lots"),))),),
    )
    out = tmp_path / "new" / "out"
    with pytest.raises(InputError) as err:
        compile_pipeline(bad, out)
    assert err.value.kind == "kfp-compile-error"
    assert list(tmp_path.iterdir()) == []  # no out dir, no parent, no temp dir


def test_existing_output_dir_is_updated_in_place_or_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    first = compile_pipeline(diamond(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"keep.txt", "diamond-demo.py", "diamond-demo.yaml"}
    bad = diamond(
        steps=(Step("s", (0,), ("x = 1",), settings=StepSettings(limits=(("memory", "?"),))),)
    )
    with pytest.raises(InputError):
        compile_pipeline(bad, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert first.dsl_path.exists()


def test_error_diagnostics_are_refused(tmp_path: Path) -> None:
    from kale_like.diagnostics import Diagnostic

    diag = Diagnostic("error", "cycle", "a -> b -> a", cell=3, line=1)
    with pytest.raises(InputError) as err:
        compile_pipeline(diamond(diagnostics=(diag,)), tmp_path / "out")
    assert err.value.cell == 3 and err.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_overrides_apply_only_when_given(tmp_path: Path) -> None:
    result = compile_pipeline(
        diamond(), tmp_path, pipeline_name="renamed", description="new", base_image="img:1"
    )
    assert result.dsl_path.name == "renamed.py"
    assert result.pipeline.description == "new" and result.pipeline.experiment == "tests"
    source = result.dsl_path.read_text(encoding="utf-8")
    assert "base_image='img:1'" in source and "description='new'" in source


def test_compile_dsl_compiles_a_written_module(tmp_path: Path) -> None:
    from kale_like.codegen import generate_dsl

    dsl = tmp_path / "p.py"
    dsl.write_text(generate_dsl(step_settings()), encoding="utf-8")
    compile_dsl(dsl, tmp_path / "p.yaml")
    assert _yaml(tmp_path / "p.yaml")["pipelineInfo"]["name"] == "22-step-settings"


# ------------------------------------------------------------------ real notebooks

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))
GOLDEN_IMAGE = "python:3.11-slim"  # explicit, so golden files do not depend on the Python


@pytest.mark.parametrize("notebook", EXAMPLES, ids=lambda p: p.stem)
def test_examples_match_golden_dsl(notebook: Path, tmp_path: Path) -> None:
    """Regenerate with KALE_LIKE_UPDATE_GOLDEN=1 after an intended change (and review it)."""
    from kfp.components import load_component_from_file

    result = compile_pipeline(notebook, tmp_path, base_image=GOLDEN_IMAGE)
    golden = GOLDEN / f"{notebook.stem}.py"
    produced = result.dsl_path.read_bytes()
    if os.environ.get("KALE_LIKE_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(produced)
    assert produced == golden.read_bytes()
    component = load_component_from_file(str(result.yaml_path))
    inputs = component.component_spec.inputs or {}
    assert {n: spec.default for n, spec in inputs.items()} == {
        p.name.lower(): p.default for p in result.pipeline.parameters
    }


def _closure(tasks: dict[str, Any]) -> dict[str, set[str]]:
    """Display name -> display names of every task it runs after (transitively)."""
    display = {name: t["taskInfo"]["name"] for name, t in tasks.items()}
    direct = {
        display[n]: {display[d] for d in t.get("dependentTasks", [])} for n, t in tasks.items()
    }
    done: dict[str, set[str]] = {}

    def visit(step: str) -> set[str]:
        if step not in done:
            done[step] = set()
            for dep in direct[step]:
                done[step] |= {dep} | visit(dep)
        return done[step]

    return {step: visit(step) for step in direct}


def _corpus(manifest: list[dict[str, Any]], valid: bool) -> list[dict[str, Any]]:
    return [e for e in manifest if e["valid"] is valid]


def test_every_valid_corpus_notebook_compiles_to_its_dag(
    corpus_dir: Path, manifest: list[dict[str, Any]], tmp_path: Path
) -> None:
    entries = _corpus(manifest, True)
    assert len(entries) == 30
    for entry in entries:
        result = compile_pipeline(corpus_dir / entry["file"], tmp_path / entry["file"])
        doc = _yaml(result.yaml_path)
        tasks = doc["root"]["dag"]["tasks"]
        closure = _closure(tasks)
        if entry["steps"]:
            assert sorted(closure) == sorted(entry["steps"]), entry["file"]
        assert len(tasks) == entry["step_count"], entry["file"]
        for step, deps in entry.get("must_depend", {}).items():
            assert set(deps) <= closure[step], (entry["file"], step)
        for step, deps in entry.get("must_not_depend", {}).items():
            assert not set(deps) & closure[step], (entry["file"], step)
        params = doc["root"].get("inputDefinitions", {}).get("parameters", {})
        assert len(params) == len(entry["parameters"]), entry["file"]
        names = allocate_names(result.pipeline)
        for consumer, producers in entry.get("must_pass", {}).items():
            arts = tasks[names.kfp_tasks[consumer]].get("inputs", {}).get("artifacts", {})
            passed = {
                (
                    a["taskOutputArtifact"]["producerTask"],
                    a["taskOutputArtifact"]["outputArtifactKey"],
                )
                for a in arts.values()
            }
            for producer, variables in producers.items():
                for var in variables:
                    key = (names.kfp_tasks[producer], names.variables[var])
                    assert key in passed, (entry["file"], consumer, producer, var)
        for step, expected in entry.get("step_settings", {}).items():
            name, container = _executor(doc, step)
            assert_step_settings(expected, container, tasks[name])


def test_invalid_corpus_notebooks_exit_2_and_write_nothing(
    corpus_dir: Path, manifest: list[dict[str, Any]], tmp_path: Path, capsys: Any
) -> None:
    from kale_like.cli import main

    for entry in _corpus(manifest, False):
        out = tmp_path / entry["file"] / "out"
        code = main(["compile", str(corpus_dir / entry["file"]), "-o", str(out)])
        if entry.get("if_upgraded") and code == 0:  # an nbformat v3 notebook may be upgraded
            doc = _yaml(next(out.glob("*.yaml")))
            steps = {t["taskInfo"]["name"] for t in doc["root"]["dag"]["tasks"].values()}
            assert steps == set(entry["if_upgraded"]["steps"])
            continue
        err = capsys.readouterr().err
        assert code == 2, (entry["file"], err)
        assert "Traceback" not in err and err.strip(), entry["file"]
        assert not (tmp_path / entry["file"]).exists(), entry["file"]


def test_cli_prints_paths_and_refuses_bad_input_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "kale_like", "compile"]
    ok = subprocess.run(
        cli + [str(EXAMPLES[0]), "-o", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    payload = json.loads(ok.stdout)
    assert Path(payload["dsl"]).is_file() and Path(payload["yaml"]).is_file()
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    proc = subprocess.run(
        cli + [str(bad), "-o", str(tmp_path / "bad-out")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "bad.ipynb" in proc.stderr
    assert not (tmp_path / "bad-out").exists()


def test_warnings_go_to_stderr_and_paths_to_stdout(
    corpus_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    from kale_like.cli import main

    out = tmp_path / "out"
    assert main(["compile", str(corpus_dir / "18_missing_dependency.ipynb"), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == [
        str(out / "18-missing-dependency.py"),
        str(out / "18-missing-dependency.yaml"),
    ]
    assert "warning[missing-dependency]" in captured.err and "cell 4" in captured.err


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("a file")
    with pytest.raises(InputError) as err:
        compile_pipeline(diamond(), target)
    assert err.value.kind == "bad-output" and target.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # Names the option, not a notebook tag.
    assert str(err.value).startswith("-o/--output: ") and err.value.tag is None


def test_component_bodies_call_run_step_with_the_users_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run each generated component function with stand-in artifacts and a fake run_step."""
    from types import SimpleNamespace

    import kale_like.runtime
    from kale_like.codegen import generate_dsl
    from kale_like.kubeflow.compile import load_dsl_module
    from kale_like.model import Parameter, Pipeline

    params = (
        Parameter("json", None, "none"),
        Parameter("LR", 0.5, "float"),
        Parameter("run_step", "x", "str"),
    )
    pipe = Pipeline(
        name="bodies",
        parameters=params,
        steps=(
            Step("a", (0,), ("x = 1",), parameters=("json", "LR", "run_step"),
                 outputs=("report", "größe", "json"), metrics=("m",), state_outputs=("random",)),
            Step("b", (1,), ("y = 1",), after=("a",), outputs=("report",),
                 inputs=(("report", "a"), ("größe", "a"), ("json", "a")),
                 state_inputs=(("random", "a"),)),
        ),
    )  # fmt: skip
    dsl = tmp_path / "bodies.py"
    dsl.write_text(generate_dsl(pipe), encoding="utf-8")
    module = load_dsl_module(dsl)
    calls: list[dict[str, Any]] = []

    def fake_run_step(spec: dict[str, Any], **kwargs: Any) -> Any:
        calls.append({"spec": spec, **kwargs})
        return SimpleNamespace(metrics={"m": 2.5, "flag": True, "text": "x"})

    monkeypatch.setattr(kale_like.runtime, "run_step", fake_run_step)
    names = allocate_names(pipe)
    logged: list[tuple[str, float]] = []
    values = {"json": '{"k": [1, 2]}', "LR": 0.5, "run_step": "x"}  # as KFP hands them over
    arguments = {names.parameters[k]: v for k, v in values.items()}
    for step in pipe.steps:
        func = getattr(module, names.functions[step.name]).python_func
        kwargs: dict[str, Any] = {}
        for arg in __import__("inspect").signature(func).parameters:
            if arg in arguments:
                kwargs[arg] = arguments[arg]
            elif arg == "mlpipeline_metrics":
                kwargs[arg] = SimpleNamespace(log_metric=lambda n, v: logged.append((n, v)))
            else:
                kwargs[arg] = SimpleNamespace(path=f"/artifacts/{step.name}/{arg}")
        func(**kwargs)
    a, b = calls
    assert a["parameters"] == {"json": {"k": [1, 2]}, "LR": 0.5, "run_step": "x"}
    assert set(a["outputs"]) == {"report", "größe", "json"}
    assert (
        a["report_path"] == "/artifacts/a/report" and a["report_path"] not in a["outputs"].values()
    )
    assert a["state_output"] == "/artifacts/a/kale_state"
    assert logged == [("m", 2.5)]  # numbers only, as KFP metrics
    for var in ("report", "größe", "json"):
        assert b["inputs"][var].startswith("/artifacts/b/")
    assert len(set(b["inputs"].values()) | set(b["outputs"].values())) == 4
    assert b["state_inputs"] == {"random": f"/artifacts/b/{names.state_input('a')}"}
    assert b["spec"]["inputs"] == ["report", "größe", "json"]


def test_list_and_dict_defaults_holding_none_compile_and_run(tmp_path: Path) -> None:
    # KFP's list/dict parameter values cannot hold None: such parameters travel as JSON.
    from nb_kit import cell, write_notebook

    from kale_like.api.execution import run
    from kale_like.codegen import kfp_arguments
    from kale_like.errors import UsageError

    params = "opts = {'a\\n': [1, None]}\nsizes = [None, 2]"
    body = "total = sum(v for v in sizes if v) + len(opts['a\\n'])"
    nb = write_notebook(
        tmp_path / "nones.ipynb",
        cell(params, "pipeline-parameters"),
        cell(body, "step:use"),
        cell("print(total)", "pipeline-metrics"),
    )
    ns: dict[str, Any] = {}
    exec(params + "\n" + body, ns)  # ground truth: top to bottom
    result = compile_pipeline(nb, tmp_path / "out")
    doc = _yaml(result.yaml_path)
    defaults = {
        k: v.get("defaultValue") for k, v in doc["root"]["inputDefinitions"]["parameters"].items()
    }
    assert {k: json.loads(v) for k, v in defaults.items()} == {
        "opts": {"a\n": [1, None]},
        "sizes": [None, 2],
    }
    outcome = run(nb, engine="kfp-local", run_root=tmp_path / "runs")
    assert outcome.status == "succeeded" and outcome.metrics == {"total": ns["total"]}
    # A list parameter whose default holds no None cannot carry one under KFP: said clearly.
    plain = write_notebook(
        tmp_path / "plain.ipynb",
        cell("sizes = [1, 2]", "pipeline-parameters"),
        cell("n = len(sizes)", "step:use"),
    )
    from kale_like.api.execution import prepare

    with pytest.raises(UsageError, match="cannot carry None inside a list parameter"):
        kfp_arguments(prepare(plain), {"sizes": [1, None]})
    root = tmp_path / "plain-runs"
    with pytest.raises(UsageError, match="cannot carry None"):
        run(plain, engine="kfp-local", run_root=root, parameters={"sizes": [1, None]})
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())  # nothing written


def _kale_notebook(meta: dict[str, Any]) -> dict[str, Any]:
    return dict(
        tagged_notebook(
            ("x = 1", ["step:load"]),
            ("y = x + 1", ["step:train", "cache:enabled"]),
            ("z = y * 2", ["step:report", "timeout:30"]),
            kubeflow=meta,
        )
    )


def test_notebook_metadata_caching_timeout_and_volumes_reach_every_task(tmp_path: Path) -> None:
    meta = {
        "pipeline_name": "kale-meta",
        "enable_caching": False,
        "timeout": 3600,
        "volumes": [
            {
                "name": "data-pvc",
                "mount_point": "/mnt/data",
                "type": "pvc",
                "expose_as_env_var": True,
                "annotations": [],
                "size": 1,
                "size_type": "Gi",
            },
            {"name": "ws", "mount_point": "/home/jovyan", "type": "clone"},
        ],
        "snapshot_volumes": True,
    }
    result = compile_pipeline(_kale_notebook(meta), tmp_path)
    doc = _yaml(result.yaml_path)
    tasks = doc["root"]["dag"]["tasks"]
    caching = {}
    deadlines = {}
    k8s = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for step in ("load", "train", "report"):
        name, container = _executor(doc, step)
        caching[step] = tasks[name]["cachingOptions"].get("enableCache", False)
        assert {"name": "KALE_VOLUME_DATA_PVC", "value": "/mnt/data"} in container["env"]
        label = doc["components"][tasks[name]["componentRef"]["name"]]["executorLabel"]
        deadlines[step] = k8s[label]["activeDeadlineSeconds"]
        (pvc,) = k8s[label]["pvcMount"]
        assert pvc["mountPath"] == "/mnt/data" and "data-pvc" in json.dumps(pvc)
    # The pipeline's switch is every task's default; a step's cache: tag wins.
    assert caching == {"load": False, "train": True, "report": False}
    assert deadlines == {"load": "3600", "train": "3600", "report": "30"}
    dsl = result.dsl_path.read_text(encoding="utf-8")
    assert dsl.count("set_caching_options(enable_caching=False)") == 2
    assert dsl.count("set_caching_options(enable_caching=True)") == 1


def test_bad_notebook_metadata_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        compile_pipeline(_kale_notebook({"timeout": "1h"}), tmp_path / "out")
    assert info.value.kind == "bad-metadata" and "kubeflow_notebook.timeout" in info.value.message
    assert not (tmp_path / "out").exists()
