"""The hand-written MLMD codec and gRPC-web client against google.protobuf and a fake server."""

from __future__ import annotations

import pytest
from mlmd_server import FakeMlmd, M

from kale_like.errors import EnvironmentProblem
from kale_like.kubeflow import mlmd


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**40, -1, -(2**40), 2**63 - 1])
def test_int_fields_match_protobuf(value: int) -> None:
    ours = mlmd.field_varint(1, value)
    theirs = M["GetArtifactsByContextRequest"](context_id=value).SerializeToString()
    assert ours == theirs
    a = M["Artifact"](id=value, type_id=7)
    a.custom_properties["x"].int_value = value
    parsed = mlmd.artifact(a.SerializeToString())
    assert parsed["id"] == value and parsed["custom_properties"] == {"x": value}


def test_artifact_decoding_matches_protobuf() -> None:
    a = M["Artifact"](id=3, type_id=17, uri="s3://b/k", type="system.Metrics")
    a.custom_properties["accuracy"].double_value = 0.8125
    a.custom_properties["display_name"].string_value = "mlpipeline_metrics"
    a.custom_properties["épochs"].int_value = 12
    assert mlmd.artifact(a.SerializeToString()) == {
        "id": 3,
        "type_id": 17,
        "type": "system.Metrics",
        "uri": "s3://b/k",
        "custom_properties": {
            "accuracy": 0.8125,
            "display_name": "mlpipeline_metrics",
            "épochs": 12,
        },
    }
    req = mlmd.field_bytes(1, b"system.PipelineRun") + mlmd.field_bytes(2, "run-é".encode())
    parsed = M["GetContextByTypeAndNameRequest"].FromString(req)
    assert (parsed.type_name, parsed.context_name) == ("system.PipelineRun", "run-é")


def test_run_metrics_picks_metrics_artifacts_of_the_run() -> None:
    server = FakeMlmd(
        runs={
            "r1": [
                ("system.Metrics", {"display_name": "whatever", "auc": 0.75, "note": "x"}),
                ("system.Artifact", {"display_name": "model", "size": 10}),
            ],
            "r2": [("system.Metrics", {"display_name": "mlpipeline_metrics", "auc": 0.5})],
        }
    ).start()
    try:
        client = mlmd.MlmdClient(server.url)
        assert mlmd.run_metrics(client, "r1") == {"auc": 0.75}
        assert mlmd.run_metrics(client, "r2") == {"auc": 0.5}
        assert mlmd.run_metrics(client, "missing") == {}
    finally:
        server.stop()


class _Resp:
    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.body, self.headers = body, headers

    def read(self) -> bytes:
        return self.body

    def __enter__(self) -> _Resp:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_grpc_errors_are_environment_problems() -> None:
    trailer = b"grpc-status:14\r\ngrpc-message:upstream connect error\r\n"
    body = b"\x80" + len(trailer).to_bytes(4, "big") + trailer
    client = mlmd.MlmdClient("http://mlmd", opener=lambda req, timeout: _Resp(body, {}))
    with pytest.raises(EnvironmentProblem, match="gRPC status 14") as info:
        client.run_context_id("r")
    assert info.value.exit_code == 3
