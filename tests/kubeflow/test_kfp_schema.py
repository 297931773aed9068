"""The contract server's answers are checked against KFP's own v2beta1 models (kfp_schema)."""

from __future__ import annotations

import json
from typing import Any

import kfp_kit
import kfp_schema
import kfp_server_api
import pytest
from kfp_server import KfpServer

from kale_like.errors import EnvironmentProblem, UsageError
from kale_like.kubeflow import client as kc
from kale_like.kubeflow import config as kfp_config

FAST = kc.Retry(attempts=2, base=0.01)

clean_kfp_env = kfp_kit.clean_kfp_env
server = kfp_kit.server
package = kfp_kit.package

GOOD_RUN: dict[str, Any] = {
    "run_id": "r1",
    "display_name": "r1",
    "experiment_id": "e1",
    "state": "RUNNING",
    "storage_state": "AVAILABLE",
    "created_at": "2026-01-02T03:04:05.123456Z",
    "runtime_config": {"parameters": {"alpha": 0.5}},
    "run_details": {
        "task_details": [
            {"task_id": "t1", "display_name": "train", "state": "FAILED", "pod_name": "p"},
            {"display_name": "train-driver", "error": {"code": 2, "message": "exit 1"}},
        ]
    },
}


def _remote(host: str) -> kc.Remote:
    remote = kc.connect(kfp_config.resolve(host=host, env={}), retry=FAST)
    remote._sleep = lambda _s: None  # the server advances per poll, not per second
    return remote


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    """A deep copy of GOOD_RUN with the item at ``path`` set to ``value``."""
    run = json.loads(json.dumps(GOOD_RUN))
    node = run
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return run


def test_route_types_are_those_the_generated_client_declares() -> None:
    expected = {
        ("GET", "/healthz"): "V2beta1GetHealthzResponse",
        ("POST", "/pipelines/upload"): "V2beta1Pipeline",
        ("POST", "/pipelines/upload_version"): "V2beta1PipelineVersion",
        ("GET", "/pipelines"): "V2beta1ListPipelinesResponse",
        ("GET", "/pipelines/p1"): "V2beta1Pipeline",
        ("GET", "/pipelines/p1/versions"): "V2beta1ListPipelineVersionsResponse",
        ("GET", "/pipelines/p1/versions/v1"): "V2beta1PipelineVersion",
        ("POST", "/experiments"): "V2beta1Experiment",
        ("GET", "/experiments"): "V2beta1ListExperimentsResponse",
        ("GET", "/experiments/e1"): "V2beta1Experiment",
        ("POST", "/runs"): "V2beta1Run",
        ("GET", "/runs"): "V2beta1ListRunsResponse",
        ("GET", "/runs/r1"): "V2beta1Run",
    }
    assert {k: kfp_schema.response_type(*k) for k in expected} == expected
    with pytest.raises(KeyError):
        kfp_schema.response_type("GET", "/runs/r1/logs")


def test_a_well_formed_run_fits() -> None:
    assert kfp_schema.check(GOOD_RUN, "V2beta1Run") == []
    assert kfp_schema.check({"code": 5, "message": "no", "details": []}, "GoogleRpcStatus") == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (["state"], "DONE", "$.state: 'DONE' is not a V2beta1RuntimeState"),
        (["state"], "succeeded", "$.state: 'succeeded' is not a V2beta1RuntimeState"),
        (
            ["run_details", "task_details", 0, "state"],
            "OK",
            "$.run_details.task_details[0].state: 'OK' is not a V2beta1RuntimeState",
        ),
        (["storage_state"], "ARCHIVED_X", "$.storage_state: 'ARCHIVED_X' is not a"),
        (["run_id"], 7, "$.run_id: expected a string, got int 7"),
        (["run_details", "task_details", 0, "pod_name"], ["p"], "pod_name: expected a string"),
        (["run_details", "task_details", 1, "error", "code"], "2", "code: expected an integer"),
        (["run_details", "task_details"], {"t": 1}, "task_details: expected a list"),
        (["created_at"], "2026-01-02 03:04:05", "$.created_at: expected an RFC 3339 UTC time"),
        (["created_at"], 1767323045, "$.created_at: expected an RFC 3339 UTC time"),
        (["finished_at"], None, "$.finished_at: null for a datetime"),
        (["status"], "SUCCEEDED", "$.status: not a field of V2beta1Run"),
        (["run_details", "task_details", 0, "logs"], "...", "task_details[0].logs: not a field"),
    ],
)
def test_the_checker_catches_a_bad_run(path: list[Any], value: Any, problem: str) -> None:
    problems = kfp_schema.check(_with(path, value), "V2beta1Run")
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_the_generated_client_alone_would_let_a_bad_state_through() -> None:
    # Why the strict walk exists: deserialize keeps an unknown enum string and drops
    # unknown keys without a word.
    client = kfp_server_api.ApiClient()

    class Resp:
        data = json.dumps(_with(["state"], "DONE") | {"bogus": 1}).encode()

    run = client.deserialize(Resp(), "V2beta1Run")
    client.close()
    assert run.state == "DONE" and not hasattr(run, "bogus")


def test_error_bodies_are_checked_by_route() -> None:
    status = {"code": 3, "message": "bad", "details": []}
    assert kfp_schema.check_response("POST", "/runs", 400, status) == []
    assert kfp_schema.check_response("POST", "/runs", 400, status | {"error": "bad"}) == [
        "$.error: not a field of GoogleRpcStatus (fields: code, message, details)"
    ]
    upload = {"error_message": "dup", "error_details": "dup"}
    assert kfp_schema.check_response("POST", "/pipelines/upload", 409, upload) == []
    assert kfp_schema.check_response("POST", "/pipelines/upload", 409, status) != []


def test_a_bad_answer_is_a_500_and_fails_the_fixture(package: str) -> None:
    srv = KfpServer().start()
    try:
        remote = _remote(srv.url)
        pid, vid, _ = remote.upload(package, "small-demo", version="v1")
        run_id = remote.start_run(remote.experiment("x"), "r", pid, vid, {})
        good = srv._run_json
        srv._run_json = lambda run: good(run) | {"state": "DONE"}  # type: ignore[method-assign]
        with pytest.raises(EnvironmentProblem) as err:
            remote.get(run_id)
        assert err.value.kind == "kfp-server-error" and "V2beta1RuntimeState" in str(err.value)
        assert len(srv.schema_errors) == FAST.attempts  # each retry got the same 500
        assert srv.schema_errors[0].startswith(f"GET /apis/v2beta1/runs/{run_id} -> 200: $.state")
        with pytest.raises(AssertionError, match="'DONE' is not a V2beta1RuntimeState"):
            srv.assert_answers_fit()
    finally:
        srv.stop()


def test_every_answer_of_a_deploy_is_checked(server: KfpServer, package: str) -> None:
    remote = _remote(server.url)
    pid, vid, _ = remote.upload(package, "small-demo", version="v1")
    with pytest.raises(UsageError) as err:  # the upload handler's own error JSON, read cleanly
        remote.upload(package, "small-demo", version="small-demo")
    assert str(err.value).splitlines()[0].endswith("a version named 'small-demo' already exists")
    eid = remote.experiment("x")
    run_id = remote.start_run(eid, "r", pid, vid, {})
    assert remote.watch(run_id).state == "SUCCEEDED"
    assert [s.run_id for s in remote.list(experiment_id=eid)] == [run_id]
    api = [r for r in server.requests if r.path.startswith("/apis/v2beta1/")]
    assert server.answers_checked == len(api) > 8 and server.schema_errors == []
