"""Metric values of a KFP v2 run, read from ML Metadata over gRPC-web (no extra packages).

KFP's REST API reports run and task states but not metric values: the launcher records a
step's ``Output[Metrics]`` as an MLMD artifact of type ``system.Metrics`` whose custom
properties are the logged scalars, attributed to the run's ``system.PipelineRun`` context
(named by the run id). This module asks MLMD's gRPC-web endpoint (the ``metadata-envoy``
service every Kubeflow install runs, the one KFP's UI uses) for exactly that:

    GetContextByTypeAndName(system.PipelineRun, run_id) -> context id
    GetArtifactType(system.Metrics)                     -> type id
    GetArtifactsByContext(context id)                   -> artifacts -> numeric custom properties

The few protobuf messages involved are encoded by hand (field numbers from MLMD's
``metadata_store.proto``/``metadata_store_service.proto``), so no ml-metadata or grpcio
package — and no protobuf version clash with kfp — is needed.
"""

from __future__ import annotations

import os
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..errors import EnvironmentProblem

DEFAULT_HOST = "http://metadata-envoy-service.kubeflow.svc.cluster.local:9090"
HOST_ENV = "KALE_LIKE_MLMD_HOST"
SERVICE = "ml_metadata.MetadataStoreService"
RUN_CONTEXT_TYPE = "system.PipelineRun"
METRICS_TYPE = "system.Metrics"
METRICS_OUTPUT = "mlpipeline_metrics"  # the output name kale_like's generated steps use
GRPC_NOT_FOUND = 5

Opener = Callable[..., Any]

# --- a minimal protobuf wire codec ----------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 -> two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def decode(buf: bytes) -> dict[int, list[Any]]:
    """Message bytes -> {field number: [values]} (varints as int, 64-bit as bytes, ...)."""
    fields: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def mlmd_value(buf: bytes) -> Any:
    """An ``ml_metadata.Value``: int_value=1, double_value=2, string_value=3 (struct: None)."""
    f = decode(buf)
    if 2 in f:
        return struct.unpack("<d", f[2][-1])[0]
    if 1 in f:
        return _int64(f[1][-1])
    if 3 in f:
        return f[3][-1].decode("utf-8", "replace")
    return None


def artifact(buf: bytes) -> dict[str, Any]:
    """An ``ml_metadata.Artifact``: id=1, type_id=2, uri=3, custom_properties=5, type=8."""
    f = decode(buf)
    custom: dict[str, Any] = {}
    for entry in f.get(5, []):  # map<string, Value>: entries {key=1, value=2}
        e = decode(entry)
        if 1 in e:
            custom[e[1][-1].decode("utf-8")] = mlmd_value(e[2][-1]) if 2 in e else None
    return {
        "id": _int64(f[1][-1]) if 1 in f else None,
        "type_id": _int64(f[2][-1]) if 2 in f else None,
        "type": f[8][-1].decode("utf-8") if 8 in f else None,
        "uri": f[3][-1].decode("utf-8") if 3 in f else None,
        "custom_properties": custom,
    }


# --- gRPC-web --------------------------------------------------------------------------


class MlmdClient:
    """Unary gRPC-web calls to MLMD (``application/grpc-web+proto`` over HTTP/1.1)."""

    def __init__(self, host: str, *, timeout: float = 30.0, opener: Opener | None = None):
        self.host = host.rstrip("/")
        self.timeout = timeout
        self.opener = opener or urllib.request.urlopen

    def call(self, method: str, message: bytes) -> bytes | None:
        """The response message, or None when MLMD answers NOT_FOUND."""
        request = urllib.request.Request(
            f"{self.host}/{SERVICE}/{method}",
            data=b"\x00" + struct.pack(">I", len(message)) + message,
            method="POST",
            headers={
                "Content-Type": "application/grpc-web+proto",
                "Accept": "application/grpc-web+proto",
                "X-Grpc-Web": "1",
            },
        )
        try:
            with self.opener(request, timeout=self.timeout) as resp:
                body = resp.read()
                status = resp.headers.get("grpc-status")
                detail = resp.headers.get("grpc-message")
        except (urllib.error.URLError, OSError) as exc:
            raise EnvironmentProblem(
                f"cannot reach ML Metadata at {self.host}: {exc}",
                kind="mlmd-unreachable",
                fix=f"set ${HOST_ENV} (or --mlmd-host) to the metadata-envoy service URL",
            ) from None
        data = b""
        pos = 0
        while pos + 5 <= len(body):
            flag, size = body[pos], struct.unpack(">I", body[pos + 1 : pos + 5])[0]
            chunk = body[pos + 5 : pos + 5 + size]
            pos += 5 + size
            if flag & 0x80:  # trailers: "grpc-status:0\r\ngrpc-message:..."
                for line in chunk.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "grpc-status":
                        status = value.strip()
                    elif name.strip().lower() == "grpc-message":
                        detail = value.strip()
            else:
                data += chunk
        code = int(status or 0)
        if code == GRPC_NOT_FOUND:
            return None
        if code != 0:
            raise EnvironmentProblem(
                f"ML Metadata {method} failed (gRPC status {code}): {detail or ''}".rstrip(),
                kind="mlmd-error",
            )
        return data

    def run_context_id(self, run_id: str) -> int | None:
        req = field_bytes(1, RUN_CONTEXT_TYPE.encode()) + field_bytes(2, run_id.encode())
        resp = self.call("GetContextByTypeAndName", req)
        context = decode(resp or b"").get(1)
        if not context:
            return None
        ids = decode(context[-1]).get(1)
        return _int64(ids[-1]) if ids else None

    def artifact_type_id(self, name: str) -> int | None:
        resp = self.call("GetArtifactType", field_bytes(1, name.encode()))
        found = decode(resp or b"").get(1)
        ids = decode(found[-1]).get(1) if found else None
        return _int64(ids[-1]) if ids else None

    def artifacts_of_context(self, context_id: int) -> list[dict[str, Any]]:
        resp = self.call("GetArtifactsByContext", field_varint(1, context_id))
        return [artifact(a) for a in decode(resp or b"").get(1, [])]


def run_metrics(client: MlmdClient, run_id: str) -> dict[str, float]:
    """Every scalar logged to a ``system.Metrics`` artifact of the run (name -> value)."""
    context = client.run_context_id(run_id)
    if context is None:
        return {}
    type_id = client.artifact_type_id(METRICS_TYPE)
    out: dict[str, float] = {}
    for art in client.artifacts_of_context(context):
        props = art["custom_properties"]
        is_metrics = (type_id is not None and art["type_id"] == type_id) or art["type"] == (
            METRICS_TYPE
        )
        if not is_metrics and props.get("display_name") != METRICS_OUTPUT:
            continue
        for name, value in props.items():
            if name != "display_name" and isinstance(value, (int, float)):
                out[name] = float(value)
    return out


def reader(host: str | None = None, *, opener: Opener | None = None) -> Callable[[Any, Any], Any]:
    """A ``metrics_reader(remote, snapshot)`` for ``api.deploy.submit_and_wait``."""
    url = host or os.environ.get(HOST_ENV) or DEFAULT_HOST

    def read(remote: Any, snapshot: Any) -> dict[str, float]:
        return run_metrics(MlmdClient(url, opener=opener), str(snapshot.run_id))

    return read
