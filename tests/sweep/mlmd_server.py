"""A fake ML Metadata gRPC-web endpoint for tests, built on the real protobuf library.

Messages are declared from MLMD's proto field numbers with ``descriptor_pb2`` and encoded
by google.protobuf itself, so the project's hand-written codec is checked against an
independent implementation. Serves on 127.0.0.1; stops with ``stop()``.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
PKG = "kale_like_test_mlmd"


def _message(fdp: Any, name: str, fields: list[tuple[str, int, int, str | None, bool]]) -> Any:
    msg = fdp.message_type.add(name=name)
    for fname, number, ftype, type_name, repeated in fields:
        f = msg.field.add(
            name=fname,
            number=number,
            type=ftype,
            label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
        )
        if type_name:
            f.type_name = f".{PKG}.{type_name}"
    return msg


def _build() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{PKG}.proto", package=PKG, syntax="proto2")
    _message(
        fdp,
        "Value",
        [
            ("int_value", 1, _F.TYPE_INT64, None, False),
            ("double_value", 2, _F.TYPE_DOUBLE, None, False),
            ("string_value", 3, _F.TYPE_STRING, None, False),
        ],
    )
    art = _message(
        fdp,
        "Artifact",
        [
            ("id", 1, _F.TYPE_INT64, None, False),
            ("type_id", 2, _F.TYPE_INT64, None, False),
            ("uri", 3, _F.TYPE_STRING, None, False),
            ("name", 7, _F.TYPE_STRING, None, False),
            ("type", 8, _F.TYPE_STRING, None, False),
        ],
    )
    entry = art.nested_type.add(name="CustomPropertiesEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    entry.field.add(
        name="value",
        number=2,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_OPTIONAL,
        type_name=f".{PKG}.Value",
    )
    art.field.add(
        name="custom_properties",
        number=5,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=f".{PKG}.Artifact.CustomPropertiesEntry",
    )
    _message(
        fdp,
        "Context",
        [
            ("id", 1, _F.TYPE_INT64, None, False),
            ("type_id", 2, _F.TYPE_INT64, None, False),
            ("name", 3, _F.TYPE_STRING, None, False),
        ],
    )
    _message(
        fdp,
        "ArtifactType",
        [("id", 1, _F.TYPE_INT64, None, False), ("name", 2, _F.TYPE_STRING, None, False)],
    )
    _message(
        fdp,
        "GetContextByTypeAndNameRequest",
        [
            ("type_name", 1, _F.TYPE_STRING, None, False),
            ("context_name", 2, _F.TYPE_STRING, None, False),
        ],
    )
    _message(
        fdp, "GetContextByTypeAndNameResponse", [("context", 1, _F.TYPE_MESSAGE, "Context", False)]
    )
    _message(fdp, "GetArtifactTypeRequest", [("type_name", 1, _F.TYPE_STRING, None, False)])
    _message(
        fdp,
        "GetArtifactTypeResponse",
        [("artifact_type", 1, _F.TYPE_MESSAGE, "ArtifactType", False)],
    )
    _message(fdp, "GetArtifactsByContextRequest", [("context_id", 1, _F.TYPE_INT64, None, False)])
    _message(
        fdp, "GetArtifactsByContextResponse", [("artifacts", 1, _F.TYPE_MESSAGE, "Artifact", True)]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.{m.name}"))
        for m in fdp.message_type
    }


M = _build()


@dataclass
class FakeMlmd:
    """Runs named in ``runs`` have a context; each holds ``(type_name, custom props)``."""

    runs: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    any_run: list[tuple[str, dict[str, Any]]] | None = None  # answer for every run id
    type_ids: dict[str, int] = field(
        default_factory=lambda: {"system.Metrics": 17, "system.Artifact": 11}
    )
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def start(self) -> FakeMlmd:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _artifacts(self, run_id: str) -> list[tuple[str, dict[str, Any]]] | None:
        return self.runs.get(run_id, self.any_run)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        assert h.headers.get("Content-Type") == "application/grpc-web+proto"
        flag, size = body[0], struct.unpack(">I", body[1:5])[0]
        assert flag == 0 and len(body) == 5 + size
        method = h.path.rsplit("/", 1)[-1]
        req = M[f"{method}Request"].FromString(body[5:])
        self.calls.append((method, req))
        resp = M[f"{method}Response"]()
        status = 0
        if method == "GetContextByTypeAndName":
            names = list(self.runs)
            if req.type_name != "system.PipelineRun" or self._artifacts(req.context_name) is None:
                status = 5
            else:
                idx = names.index(req.context_name) if req.context_name in names else 99
                resp.context.id = 1000 + idx
                resp.context.name = req.context_name
                self._last = req.context_name
        elif method == "GetArtifactType":
            if req.type_name in self.type_ids:
                resp.artifact_type.id = self.type_ids[req.type_name]
                resp.artifact_type.name = req.type_name
            else:
                status = 5
        elif method == "GetArtifactsByContext":
            for i, (tname, props) in enumerate(self._artifacts(self._last) or []):
                a = resp.artifacts.add(id=i + 1, type_id=self.type_ids[tname], uri=f"s3://x/{i}")
                for key, value in props.items():
                    v = a.custom_properties[key]
                    if isinstance(value, str):
                        v.string_value = value
                    elif isinstance(value, int):
                        v.int_value = value
                    else:
                        v.double_value = value
        if status:
            h.send_response(200)
            h.send_header("Content-Type", "application/grpc-web+proto")
            h.send_header("grpc-status", str(status))
            h.send_header("grpc-message", "not found")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        data = resp.SerializeToString()
        trailer = b"grpc-status:0\r\ngrpc-message:\r\n"
        out = (
            b"\x00"
            + struct.pack(">I", len(data))
            + data
            + b"\x80"
            + struct.pack(">I", len(trailer))
            + trailer
        )
        h.send_response(200)
        h.send_header("Content-Type", "application/grpc-web+proto")
        h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)
