"""The KFP backend against the contract server, through a real ``kfp.Client``."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import kfp_kit
import pytest
from kfp_server import KfpServer

from kale_like.errors import EnvironmentProblem, RunFailed, UsageError
from kale_like.kubeflow import client as kc
from kale_like.kubeflow import config as kfp_config

FAST = kc.Retry(attempts=3, base=0.01)
TOKEN = "tok-0123456789-secret"


# Shared fixtures (tests/kfp_kit.py): a clean KFP environment, the server, the small pipeline.
clean_kfp_env = kfp_kit.clean_kfp_env
server = kfp_kit.server
package = kfp_kit.package


def _remote(host: str, **kw: Any) -> kc.Remote:
    config = kfp_config.resolve(host=host, env=kw.pop("env", {}), **kw)
    remote = kc.connect(config, retry=FAST)
    remote._sleep = lambda _s: None  # the server advances per poll, not per second
    return remote


def test_first_upload_then_new_version_never_overwrites(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    pid, vid, new = remote.upload(package, "small-demo", version="v-one")
    assert new and len(server.pipelines) == 1 and server.versions[vid].pipeline_id == pid
    pid2, vid2, new2 = remote.upload(package, "small-demo", version="v-two")
    assert (pid2, new2) == (pid, False) and vid2 != vid
    assert sorted(v.name for v in server.versions.values()) == ["small-demo", "v-two"]
    assert server.versions[vid].raw == Path(package).read_text()  # the first is untouched
    with pytest.raises(UsageError) as err:  # a duplicate version name is refused, exit 2
        remote.upload(package, "small-demo", version="v-two")
    assert err.value.kind == "kfp-conflict" and len(server.versions) == 2
    uploads = server.calls("POST", "/pipelines/upload_version")
    assert uploads[0].query["pipelineid"] == [pid] and uploads[0].query["name"] == ["v-two"]


def test_experiment_get_or_create_and_run_with_parameters(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    pid, vid, _ = remote.upload(package, "small-demo", version="v1")
    eid = remote.experiment("churn")
    assert remote.experiment("churn") == eid and len(server.experiments) == 1
    run_id = remote.start_run(eid, "r1", pid, vid, {"alpha": 0.3, "label": "x"})
    run = server.runs[run_id]
    assert run.body["runtime_config"]["parameters"] == {"alpha": 0.3, "label": "x"}
    assert run.body["pipeline_version_reference"] == {
        "pipeline_id": pid,
        "pipeline_version_id": vid,
    }
    assert run.body["experiment_id"] == eid
    assert remote.run_url(run_id) == f"{server.url}/#/runs/details/{run_id}"


def test_server_rejects_bad_parameters_as_bad_input(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    pid, vid, _ = remote.upload(package, "small-demo", version="v1")
    eid = remote.experiment("e")
    with pytest.raises(UsageError) as err:
        remote.start_run(eid, "r", pid, vid, {"nope": 1})
    assert err.value.exit_code == 2 and "nope" in err.value.message
    with pytest.raises(UsageError):
        remote.start_run(eid, "r", pid, vid, {"n": "three"})
    assert not server.runs


def test_watch_to_success_reports_each_step(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    eid = remote.experiment("e")
    run_id = remote.start_run(eid, "r", None, None, {}, package_path=package)
    events: list[tuple[str | None, str]] = []
    snap = remote.watch(run_id, progress=lambda ev: events.append((ev.step, ev.status)))
    assert snap.status == "succeeded" and snap.state == "SUCCEEDED"
    assert {n: s.status for n, s in snap.steps.items()} == {
        "prepare": "succeeded",
        "train": "succeeded",
        "publish": "succeeded",
    }
    # Steps run in DAG order, each seen running then succeeded; drivers/root are not steps.
    step_events = [e for e in events if e[0] is not None]
    assert step_events == [
        ("prepare", "running"),
        ("prepare", "succeeded"),
        ("train", "running"),
        ("train", "succeeded"),
        ("publish", "running"),
        ("publish", "succeeded"),
    ]
    assert events[-1] == (None, "succeeded")
    assert server.runs[run_id].body["pipeline_spec"]["pipelineInfo"]["name"] == "small-demo"


def test_watch_to_failure(server: KfpServer, package: str) -> None:
    server.fail_steps = {"train"}
    remote = _remote(server.url)
    run_id = remote.start_run(remote.experiment("e"), "r", None, None, {}, package_path=package)
    snap = remote.watch(run_id)
    assert snap.status == "failed"
    assert snap.steps["train"].status == "failed" and "exited with code 1" in str(
        snap.steps["train"].error
    )
    assert "publish" not in snap.steps  # never started


def test_watch_timeout(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    run_id = remote.start_run(remote.experiment("e"), "r", None, None, {}, package_path=package)
    with pytest.raises(RunFailed) as err:
        remote.watch(run_id, poll=1.0, timeout=0.5)
    assert err.value.kind == "kfp-watch-timeout"


def test_list_and_get_runs(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    eid = remote.experiment("e")
    ids = [remote.start_run(eid, f"r{i}", None, None, {}, package_path=package) for i in range(2)]
    listed = remote.list(experiment_id=eid)
    assert sorted(s.run_id for s in listed) == sorted(ids)
    assert all(s.status == "running" and s.state == "PENDING" for s in listed)


def test_backoff_grows_while_nothing_changes(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    waits: list[float] = []
    remote._sleep = waits.append
    run_id = remote.start_run(remote.experiment("e"), "r", None, None, {}, package_path=package)
    remote.watch(run_id, poll=1.0, max_poll=4.0)
    # Every poll of the contract server changes something, so the wait stays at `poll`.
    assert waits and set(waits) == {1.0}
    assert kc.Retry(attempts=5, base=0.5, cap=3).delays() == [0.5, 1.0, 2.0, 3]


# ------------------------------------------------------------------------- auth & errors


def test_bearer_token_sent_on_every_request(server: KfpServer, package: str) -> None:
    server.required_token = TOKEN
    remote = _remote(server.url, env={"KFP_TOKEN": TOKEN})
    remote.upload(package, "small-demo", version="v1")
    assert server.requests and all(
        r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.requests
    )


def test_service_account_token_file_is_sent(
    server: KfpServer, package: str, tmp_path: Path
) -> None:
    tok = tmp_path / "sa-token"
    tok.write_text("sa-token-value-123")
    server.required_token = "sa-token-value-123"
    remote = _remote(server.url, env={"KF_PIPELINES_SA_TOKEN_PATH": str(tok)})
    remote.experiment("e")
    assert server.calls("POST", "/experiments")[0].headers["authorization"] == (
        "Bearer sa-token-value-123"
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_host() -> None:
    with pytest.raises(EnvironmentProblem) as err:
        _remote(f"http://127.0.0.1:{_closed_port()}")
    assert err.value.kind == "kfp-unreachable" and err.value.exit_code == 3


def test_tls_failure(server: KfpServer) -> None:
    with pytest.raises(EnvironmentProblem) as err:
        _remote(f"https://127.0.0.1:{server.port}")
    assert err.value.kind == "kfp-tls" and "http://" in (err.value.fix or "")


def test_401_says_how_to_provide_a_token(server: KfpServer) -> None:
    server.required_token = TOKEN
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url)
    assert err.value.kind == "kfp-unauthorized"
    assert "--token-file" in (err.value.fix or "") and "KFP_TOKEN" in (err.value.fix or "")


def test_wrong_token_is_401_and_not_echoed(server: KfpServer) -> None:
    server.required_token = TOKEN
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url, env={"KFP_TOKEN": "wrong-token-xyz"})
    assert err.value.kind == "kfp-unauthorized"
    assert "wrong-token-xyz" not in str(err.value)


def test_403(server: KfpServer) -> None:
    server.force_status = 403
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url)
    assert err.value.kind == "kfp-forbidden" and "--namespace" in (err.value.fix or "")


def test_404_names_the_path_prefix(server: KfpServer) -> None:
    server.prefix = "/pipeline"
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url.removesuffix("/pipeline"))
    assert err.value.kind == "kfp-not-found" and "/pipeline" in (err.value.fix or "")
    assert _remote(server.url).experiment("ok")  # with the prefix it works


def test_transient_500_is_retried(server: KfpServer, package: str) -> None:
    server.transient = 1
    remote = _remote(server.url)  # the health probe sees one 500, then 200
    assert len(server.calls("GET", "/healthz")) >= 2
    server.transient = 2
    pid, _, new = remote.upload(package, "small-demo", version="v1")
    assert new and pid in server.pipelines


def test_persistent_500_is_an_environment_problem(server: KfpServer) -> None:
    remote = _remote(server.url)
    server.force_status = 500
    with pytest.raises(EnvironmentProblem) as err:
        remote.experiment("e")
    assert err.value.kind == "kfp-server-error"
    assert len(server.calls("GET", "/experiments")) == FAST.attempts


def test_no_host_and_no_kube_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    with pytest.raises(EnvironmentProblem) as err:
        kc.connect(kfp_config.resolve(env={}, in_cluster_token="/nonexistent"))
    assert err.value.kind == "kfp-no-host" and "--host" in (err.value.fix or "")


def test_uploaded_file_must_be_a_pipeline_spec(server: KfpServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelineInfo: {name: x}\nroot: {dag: {tasks: {}}}\nbogus_field: 1\n")
    remote = _remote(server.url)
    with pytest.raises(UsageError) as err:
        remote.upload(str(bad), "bad", version="v")
    assert "invalid pipeline spec" in err.value.message and not server.pipelines


def test_snapshot_maps_states_and_task_names() -> None:
    spec = {"root": {"dag": {"tasks": {"load-data": {"taskInfo": {"name": "load-data"}}}}}}
    names = kc.task_step_names(spec, ["load_data"])
    run = {
        "run_id": "r",
        "state": "FAILED",
        "error": {"message": "boom"},
        "run_details": {
            "task_details": [
                {"display_name": "root", "state": "FAILED"},
                {"display_name": "load-data-driver", "state": "SUCCEEDED"},
                {"display_name": "load-data", "state": "FAILED", "error": {"message": "x"}},
            ]
        },
    }
    snap = kc.snapshot(run, names)
    assert snap.status == "failed" and snap.error == "boom"
    assert list(snap.steps) == ["load_data"] and snap.steps["load_data"].error == "x"
    assert list(kc.snapshot(run).steps) == ["load-data"]


def test_multi_user_needs_a_namespace(server: KfpServer) -> None:
    server.multi_user = True
    with pytest.raises(UsageError) as err:
        _remote(server.url)
    assert err.value.kind == "kfp-namespace-required" and "--namespace" in (err.value.fix or "")
    remote = _remote(server.url, namespace="team-a")
    eid = remote.experiment("e")
    assert server.experiments[eid]["namespace"] == "team-a"
    remote.list()
    assert server.calls("GET", "/runs")[-1].query["namespace"] == ["team-a"]


def test_dropped_connections_are_retried(server: KfpServer, package: str) -> None:
    server.reset = 1
    remote = _remote(server.url)  # the probe's first connection is dropped
    assert len(server.calls("GET", "/healthz")) >= 2
    server.reset = 1
    pid, _, _ = remote.upload(package, "small-demo", version="v1")
    assert pid in server.pipelines and len(server.pipelines) == 1


def test_pipeline_created_meanwhile_becomes_a_version(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    pid, _, _ = remote.upload(package, "small-demo", version="v1")

    class Racy:
        """Looks up the name before the other upload landed, then behaves normally."""

        def __init__(self, client: Any) -> None:
            self.client, self.first = client, True

        def get_pipeline_id(self, name: str) -> str | None:
            if self.first:
                self.first = False
                return None
            return self.client.get_pipeline_id(name)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

    racy = kc.Remote(Racy(remote.client), remote.config, retry=FAST)
    pid2, vid2, new = racy.upload(package, "small-demo", version="v2")
    assert (pid2, new) == (pid, False) and server.versions[vid2].name == "v2"
    assert len(server.pipelines) == 1


def test_dashboard_page_instead_of_api_names_the_prefix(server: KfpServer) -> None:
    server.prefix, server.outside = "/pipeline", "html"
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url.removesuffix("/pipeline"))
    assert err.value.kind == "kfp-not-found" and "/pipeline" in (err.value.fix or "")


def test_login_redirect_is_not_followed_with_the_token(server: KfpServer) -> None:
    server.prefix, server.outside = "/pipeline", "login"
    with pytest.raises(EnvironmentProblem) as err:
        _remote(server.url.removesuffix("/pipeline"), env={"KFP_TOKEN": TOKEN})
    assert err.value.kind == "kfp-login-redirect" and "/dex/auth" in err.value.message
    assert "KFP_TOKEN" in (err.value.fix or "")
    assert "/pipeline" in (err.value.fix or "")  # the host lacked the API's path prefix
    assert not server.calls("GET", "/dex/auth")  # the token never went to the login page


@pytest.mark.parametrize(
    "status, kind", [(429, "kfp-http-error"), (413, "kfp-http-error"), (503, "kfp-server-error")]
)
def test_other_http_errors_map_to_exit_3(server: KfpServer, status: int, kind: str) -> None:
    remote = _remote(server.url)
    server.force_status = status
    with pytest.raises(EnvironmentProblem) as err:
        remote.experiment("e")
    assert err.value.kind == kind and str(status) in err.value.message
    retried = status in (429, 503)
    assert len(server.calls("GET", "/experiments")) == (FAST.attempts if retried else 1)
