"""Observed facts (issue 11, item 3): what a local run saw, kept per notebook, feeds the IR.

Notebooks hold writes the analysis cannot see: names bound by ``exec``/``globals()``, and
state kept on a function of the ``functions`` cell (a counting decorator). Ground truth is
the notebook's cells executed top to bottom in one namespace; a compiled pipeline run by
KFP's own local runner must give the same values once a local run observed the writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp_kit import KfpServer, clean_kfp_env, server  # noqa: F401 (fixtures)
from nb_kit import cell, edit_cell, write_notebook

from kale_like.api import observed
from kale_like.api.analysis import load_pipeline
from kale_like.api.compilation import compile as compile_nb
from kale_like.api.execution import run
from kale_like.cli import main
from kale_like.errors import RunFailed

COUNTED = (
    "def counted(fn):\n    def wrapper(*a):\n        wrapper.calls += 1\n        return fn(*a)\n"
    "    wrapper.calls = 0\n    return wrapper\n\n@counted\ndef f(x):\n    return x * 2\n"
)
NOTEBOOKS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    # cell index 1 binds z and g where the analysis cannot see it
    "exec": [
        ("base = 1", ("step:make",)),
        ("exec('z = 41')\nglobals()['g'] = 1", ("step:sneak",)),
        ("w = z + g", ("step:use",)),
        ("print(w)", ("pipeline-metrics",)),
    ],
    # step one advances the decorator's counter on f (a functions-cell object)
    "prelude": [
        (COUNTED, ("functions",)),
        ("y1 = f(1)", ("step:one",)),
        ("y2 = f(2)\ncalls = f.calls", ("step:two",)),
        ("print(calls)\nprint(y2)", ("pipeline-metrics",)),
    ],
}


def build(
    tmp_path: Path, name: str, cells: Sequence[tuple[str, tuple[str, ...]]] | None = None
) -> Path:
    cells = cells or NOTEBOOKS[name]
    return write_notebook(tmp_path / f"{name}.ipynb", *(cell(src, *tags) for src, tags in cells))


def truth(name: str) -> dict[str, Any]:
    """Values of a top-to-bottom run (the metrics cell only prints)."""
    ns: dict[str, Any] = {}
    for src, tags in NOTEBOOKS[name]:
        if "pipeline-metrics" not in tags:
            exec(src, ns)
    return ns


def observe(nb: Path, root: Path | None, **kw: Any) -> Any:
    """A local run that observes the notebook. One step at a time: a reader that starts
    before the writer finished fails with a NameError, and the engine re-runs only readers
    that succeeded (a matter of the local engine's re-planning, not of the facts)."""
    return run(nb, run_root=root, jobs=1, **kw)


def store(nb: Path, root: Path) -> dict[str, Any]:
    return json.loads(observed.store_path(nb, root).read_text())


def entry_of(data: dict[str, Any], step: str) -> dict[str, Any]:
    found = [e for e in data["steps"].values() if e["step"] == step]
    assert len(found) == 1, data
    return found[0]


def yaml_inputs(yaml_path: Path, task: str) -> dict[str, Any]:
    spec = yaml.safe_load(yaml_path.read_text())
    return spec["root"]["dag"]["tasks"][task]["inputs"].get("artifacts", {})


# ------------------------------------------------------------------ persistence


def test_a_local_run_persists_the_fact(tmp_path: Path) -> None:
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    result = observe(nb, root)
    assert result.status == "succeeded" and result.metrics == {"w": truth("exec")["w"]}
    data = store(nb, root)
    assert data["notebook"] == str(nb.absolute())
    writes = entry_of(data, "sneak")["writes"]
    assert {w["variable"] for w in writes} == {"g", "z"}
    for w in writes:
        assert (w["how"], w["cell"], w["later"], w["run"]) == ("bound", 1, ["use"], result.run_id)
    assert entry_of(data, "use")["writes"] == [] and entry_of(data, "make")["runs"]
    assert not (tmp_path / ".kale_like").exists()  # under the run root given, nowhere else


def test_a_notebook_without_surprises_leaves_no_store(tmp_path: Path) -> None:
    nb = build(tmp_path, "plain", [("a = 1", ("step:one",)), ("b = a + 1", ("step:two",))])
    assert run(nb, run_root=tmp_path / "root").status == "succeeded"
    assert not observed.store_path(nb, tmp_path / "root").exists()


def test_facts_survive_runs_that_no_longer_report_them(tmp_path: Path) -> None:
    # Once the fact feeds the IR the runtime sees a declared write: the fact must stay.
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    first = observe(nb, root)
    second = observe(nb, root, use_cache=False)
    assert second.status == "succeeded" and second.metrics == first.metrics
    sneak = entry_of(store(nb, root), "sneak")
    assert sneak["runs"] == [first.run_id, second.run_id]
    assert {w["variable"] for w in sneak["writes"]} == {"g", "z"}


# ------------------------------------------------------------------ analyze


def test_analyze_marks_the_observed_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    assert main(["analyze", str(nb), "--run-root", str(root), "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert all("observed" not in s for s in before["steps"])  # the contract is unchanged
    assert next(s for s in before["steps"] if s["name"] == "use")["inputs"] == {}

    result = observe(nb, root)
    assert main(["analyze", str(nb), "--run-root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "     z <- sneak (observed)" in text and "     g <- sneak (observed)" in text
    assert main(["analyze", str(nb), "--run-root", str(root), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    use = next(s for s in data["steps"] if s["name"] == "use")
    assert use["inputs"] == {"g": "sneak", "z": "sneak"} and use["observed"] == ["g", "z"]
    assert "sneak" in use["after"]
    sneak = next(s for s in data["steps"] if s["name"] == "sneak")
    assert set(sneak["outputs"]) == {"g", "z"} and "observed" not in sneak
    infos = [d for d in data["diagnostics"] if d["kind"] == "observed-write"]
    assert len(infos) == 2
    for d in infos:
        assert d["severity"] == "info" and d["cell"] == 1
        assert f"run {result.run_id}" in d["message"] and "'use' now receives it" in d["message"]
    assert main(["analyze", str(nb), "--run-root", str(root), "--format", "mermaid"]) == 0
    assert '-.->|"g, z"|' in capsys.readouterr().out


def test_the_default_run_root_is_where_every_verb_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KALE_LIKE_RUN_ROOT", raising=False)
    nb = build(tmp_path, "exec")
    observe(nb, None)  # .kale_like beside the notebook
    assert observed.store_path(nb).is_file()
    assert load_pipeline(nb).step("use").observed == ("g", "z")


@pytest.mark.parametrize("env", [None, "env-root"])
def test_the_default_root_is_the_local_engines(
    env: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kale_like.records import default_run_root

    if env is None:
        monkeypatch.delenv("KALE_LIKE_RUN_ROOT", raising=False)
    else:
        monkeypatch.setenv("KALE_LIKE_RUN_ROOT", str(tmp_path / env))
    nb = (tmp_path / "nb.ipynb").absolute()
    assert observed.default_root(nb) == default_run_root(nb).absolute()


# ------------------------------------------------------------------ compile / kfp-local


def test_compile_puts_the_variable_on_the_edge(tmp_path: Path) -> None:
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    observe(nb, root)
    res = compile_nb(nb, tmp_path / "out", run_root=root)
    arts = yaml_inputs(res.yaml_path, "use")
    for var in ("g", "z"):
        assert arts[var]["taskOutputArtifact"] == {
            "outputArtifactKey": var,
            "producerTask": "sneak",
        }
    dsl = res.dsl_path.read_text()
    assert "z=sneak_task.outputs['z']" in dsl and "g=sneak_task.outputs['g']" in dsl


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_kfp_local_runs_right_once_observed(name: str, tmp_path: Path) -> None:
    nb, root = build(tmp_path, name), tmp_path / "root"
    expected = truth(name)
    before = run(nb, engine="kfp-local", run_root=tmp_path / "before")
    assert before.status == "failed"  # the write the analysis missed is not carried
    local = observe(nb, root)
    assert local.status == "succeeded"
    after = run(nb, engine="kfp-local", run_root=root)
    assert after.status == "succeeded", after.failed_step
    assert after.metrics and after.metrics == {k: expected[k] for k in after.metrics}
    assert after.metrics == local.metrics


def test_before_observing_a_cluster_step_fails_naming_the_variable(tmp_path: Path) -> None:
    nb = build(tmp_path, "prelude")
    before = run(nb, engine="kfp-local", run_root=tmp_path / "before")
    failed = before.failed_step
    assert failed is not None and failed.name == "one"
    assert "step one changed `f`" in f"{failed.error}\n{failed.traceback}"  # the runtime's


# ------------------------------------------------------------------ invalidation


def test_editing_a_step_invalidates_only_its_facts(tmp_path: Path) -> None:
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    observe(nb, root)
    edit_cell(nb, 2, lambda s: s.replace("z + g", "g + z"))  # the reader: the fact stays
    assert load_pipeline(nb, run_root=root).step("use").observed == ("g", "z")
    edit_cell(nb, 1, lambda s: s.replace("41", "40"))  # the writer: its facts are gone
    pipe = load_pipeline(nb, run_root=root)
    assert pipe.step("use").observed == () and pipe.step("use").inputs == ()
    assert not [d for d in pipe.diagnostics if d.kind == "observed-write"]
    again = observe(nb, root)  # observes the new code; the old entry is dropped
    assert again.metrics == {"w": 41}  # 40 + 1
    data = store(nb, root)
    assert len(data["steps"]) == 3
    assert entry_of(data, "sneak")["runs"] == [again.run_id]
    assert load_pipeline(nb, run_root=root).step("use").observed == ("g", "z")


def test_editing_the_prelude_invalidates_every_step(tmp_path: Path) -> None:
    nb, root = build(tmp_path, "prelude"), tmp_path / "root"
    observe(nb, root)
    assert load_pipeline(nb, run_root=root).step("two").observed == ("f",)
    edit_cell(nb, 0, lambda s: s.replace("x * 2", "x * 3"))
    assert load_pipeline(nb, run_root=root).step("two").observed == ()


# ------------------------------------------------------------------ --observe


def test_compile_observe_does_it_in_one_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb, root, out = build(tmp_path, "prelude"), tmp_path / "root", tmp_path / "out"
    args = ["compile", str(nb), "-o", str(out), "--observe", "--run-root", str(root)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "info[observed-write]" in err and "'two' now receives it from 'one'" in err
    yaml_path = next(out.glob("*.yaml"))
    assert yaml_inputs(yaml_path, "two")["f"]["taskOutputArtifact"]["producerTask"] == "one"
    runs = sorted((root / "runs").iterdir())
    assert len(runs) == 1
    assert main(args) == 0  # facts exist for this code: no second local run
    assert sorted((root / "runs").iterdir()) == runs
    result = run(nb, engine="kfp-local", run_root=root)
    expected = truth("prelude")
    assert result.status == "succeeded"
    assert result.metrics == {"calls": expected["calls"], "y2": expected["y2"]}


def test_compile_observe_on_a_notebook_whose_run_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [
        ("base = 1", ("step:make",)),
        ("exec('z = 41')\nratio = base / 0", ("step:sneak",)),
        ("w = z", ("step:use",)),
    ]
    nb, root, out = build(tmp_path, "broken", cells), tmp_path / "root", tmp_path / "out"
    code = main(["compile", str(nb), "-o", str(out), "--observe", "--run-root", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    assert "step 'sneak', cell 2" in err and "ZeroDivisionError" in err and "Traceback" not in err
    assert "nothing was compiled" in err and "fix:" in err
    assert not out.exists()
    with pytest.raises(RunFailed) as info:
        compile_nb(nb, out, observe=True, run_root=root)
    assert info.value.step == "sneak" and info.value.cell == 1 and not out.exists()


def test_observe_needs_a_saved_notebook(tmp_path: Path) -> None:
    import nbformat

    from kale_like.errors import UsageError

    nb = nbformat.read(build(tmp_path, "exec"), as_version=4)
    with pytest.raises(UsageError) as info:
        compile_nb(nb, tmp_path / "out", observe=True, run_root=tmp_path / "root")
    assert info.value.kind == "observe-needs-path" and not (tmp_path / "out").exists()


def test_deploy_observe_uploads_the_observed_edge(
    tmp_path: Path,
    server: KfpServer,  # noqa: F811 - the fixture
) -> None:
    nb, root = build(tmp_path, "exec"), tmp_path / "root"
    args = ["deploy", str(nb), "--host", server.url, "--upload-only", "--observe"]
    assert main([*args, "--run-root", str(root)]) == 0
    spec = yaml.safe_load(server.uploaded()[-1].raw)
    arts = spec["root"]["dag"]["tasks"]["use"]["inputs"]["artifacts"]
    assert arts["z"]["taskOutputArtifact"]["producerTask"] == "sneak"
    assert main(["deploy", str(tmp_path / "x.yaml"), "--host", server.url, "--observe"]) == 2


# ------------------------------------------------------------------ pure core


def test_state_facts_become_state_edges(tmp_path: Path) -> None:
    # `helper` draws from the `random` module where the analysis cannot see it (a module
    # it does not read); the run saw `shuffle` draw after `seed` changed the state.
    cells = [
        ("import random", ("imports",)),
        ("random.seed(7)", ("step:seed",)),
        ("n = 3", ("step:other",)),
        ("xs = sorted([n, 1, 2])", ("step:shuffle",)),
    ]
    nb = build(tmp_path, "state", cells)
    pipe = load_pipeline(nb, run_root=tmp_path / "root")
    assert "random" not in dict(pipe.step("shuffle").state_inputs)
    facts = [observed.Fact("shuffle", "random", "drew", 3, "r1", state=True)]
    got = observed.apply_facts(pipe, facts)
    shuffle = got.step("shuffle")
    assert dict(shuffle.state_inputs)["random"] == "seed" and "seed" in shuffle.after
    assert shuffle.observed_state == ("random",) and shuffle.to_json()["observed_state"] == [
        "random"
    ]
    diag = next(d for d in got.diagnostics if d.kind == "observed-write")
    assert diag.step == "shuffle" and "run r1" in diag.message and "from 'seed'" in diag.message
    # an unseen change: `other` becomes the writer the drawer continues from
    facts.append(observed.Fact("other", "random", "changed", 2, "r1", state=True))
    got = observed.apply_facts(pipe, facts)
    assert dict(got.step("shuffle").state_inputs)["random"] == "other"
    assert "random" in got.step("other").state_outputs
    assert observed.apply_facts(got, facts) == got  # applying twice changes nothing


def test_merge_keeps_live_code_and_drops_edited_code(tmp_path: Path) -> None:
    nb = build(tmp_path, "exec")
    pipe = load_pipeline(nb, run_root=tmp_path / "root")
    rec: dict[str, dict[str, Any]] = {
        "make": {"status": "succeeded", "observed": []},
        "sneak": {
            "status": "succeeded",
            "observed": [{"variable": "z", "how": "bound", "cell": 1, "later": ["use"]}],
        },
        "use": {"status": "failed", "observed": []},  # unfinished: not observed to the end
    }
    first = observed.merge_run(observed.empty_store(), pipe, "r1", rec)
    assert {e["step"] for e in first["steps"].values()} == {"make", "sneak"}
    assert not observed.covered(first, pipe)
    rec["use"]["status"] = "cached"
    rec["sneak"]["observed"] = []  # declared now: not reported again, still known
    second = observed.merge_run(first, pipe, "r2", rec)
    assert observed.covered(second, pipe)
    assert [f.name for f in observed.facts_for(second, pipe)] == ["z"]
    edit_cell(nb, 1, lambda s: s + "\nq = 1")
    edited = load_pipeline(nb, run_root=tmp_path / "root")
    assert observed.facts_for(second, edited) == []
    third = observed.merge_run(second, edited, "r3", {})
    assert {e["step"] for e in third["steps"].values()} == {"make", "use"}
