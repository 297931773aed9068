"""A small Kubeflow Pipelines v2beta1 API server for tests: the contract ``kfp.Client`` 2.17 uses.

It serves on 127.0.0.1 (ephemeral port) the endpoints the client calls: healthz, pipelines
upload / upload_version (multipart), pipelines list (filter by display name) / get, pipeline
versions list / get, experiments create / list / get, runs create / get / list. Every request
is recorded (method, path, query, headers, body).

Checked against KFP's own schemas and models (not our reading of them):

* what it receives: an uploaded file must parse as KFP's ``PipelineSpec`` + ``PlatformSpec``
  protos (``kfp.pipeline_spec``) and each task's Kubernetes settings as kfp-kubernetes'
  ``KubernetesExecutorConfig``;
* what it sends: every answer under ``/apis/v2beta1`` is checked by :mod:`kfp_schema` against
  the ``kfp_server_api`` model the generated client declares as that route's
  ``response_type`` (``V2beta1Run``, ``V2beta1ListRunsResponse``, ``V2beta1Pipeline``, ...;
  errors: ``GoogleRpcStatus``): no unknown field, JSON types as declared, enum values (run and
  task ``state``, ``storage_state``) among the model's allowed values, RFC 3339 times, and
  ``ApiClient.deserialize`` must accept it. A misfit is answered with a 500 and recorded in
  ``schema_errors``; the ``kfp_kit.server`` fixture fails the test at teardown if any.

Modelled by us, from KFP's source and docs, and so only as right as our reading:

* structural checks of a spec (tasks name known components, components have executors,
  executors an image) and of a run's parameters (declared inputs, value types, required ones);
* the run lifecycle: one state per ``GET`` of the run, PENDING -> RUNNING (steps one by one,
  in DAG order) -> SUCCEEDED, or FAILED at the step named in ``fail_steps``; no wall-clock
  timing, no CANCELED / SKIPPED / CACHED, no ``state_history``;
* task details: the root DAG, one ``<step>-driver`` and one task per started step, with a
  made-up ``pod_name``, no ``start_time`` / ``end_time``, inputs, outputs or child tasks;
  no logs, artifacts or ML Metadata (metrics live in MLMD, faked elsewhere);
* listing: only EQUALS string predicates in ``filter``, ``page_size`` only for versions, no
  ``next_page_token``; the status codes of refusals (400 / 404 / 409), and the error body of
  the upload handlers (``{"error_message", "error_details"}``, as KFP's
  ``PipelineUploadServer`` writes it; no generated model covers it);
* healthz answers the model's fields only (the real one adds ``commit_sha``, ``tag_name``).

Faults: ``force_status`` (e.g. 401/403/500 for every request), ``transient`` (the next N
requests answer 500, then normal service), ``reset`` (the next N connections are dropped
without an answer), ``prefix`` (the API lives under e.g. ``/pipeline``; anything else is a
404 like an ingress, or with ``outside`` a dashboard page or a login redirect; those pages
are not KFP's and are not checked), ``required_token`` (401 without that bearer token).
It stops by itself after ``max_seconds``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kfp_schema
import yaml

API = "/apis/v2beta1"
_TYPES = {
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "STRING": (str,),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}


class Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Version:
    pipeline_id: str
    version_id: str
    name: str
    spec: dict[str, Any]
    platform: dict[str, Any]
    raw: str
    created_at: str


@dataclass
class Run:
    run_id: str
    body: dict[str, Any]
    spec: dict[str, Any]
    steps: list[str]
    polls: int = 0
    fail_at: str | None = None
    created_at: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _validate_kubernetes(platform: dict[str, Any]) -> None:
    """Each task's Kubernetes settings must be a valid ``KubernetesExecutorConfig`` (the
    platform spec types them only as a Struct), as the KFP backend's driver reads them."""
    from google.protobuf import json_format
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb

    k8s = ((platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {}
    for config in (k8s.get("executors") or {}).values():
        json_format.ParseDict(config, k8s_pb.KubernetesExecutorConfig())


def validate_package(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pipeline spec, platform spec) of an uploaded YAML, or Reject(400)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        docs = [d for d in yaml.safe_load_all(raw) if d is not None]
    except yaml.YAMLError as exc:
        raise Reject(400, f"invalid pipeline spec: not YAML: {exc}") from None
    if not docs or not isinstance(docs[0], dict):
        raise Reject(400, "invalid pipeline spec: empty file")
    spec, platform = docs[0], {}
    for extra in docs[1:]:
        platform.update(extra)
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
        _validate_kubernetes(platform)
    except json_format.ParseError as exc:
        raise Reject(400, f"invalid pipeline spec: {exc}") from None
    if not (spec.get("pipelineInfo") or {}).get("name"):
        raise Reject(400, "invalid pipeline spec: pipelineInfo.name is missing")
    components = spec.get("components") or {}
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    if not tasks:
        raise Reject(400, "invalid pipeline spec: root.dag has no tasks")
    for name, task in tasks.items():
        ref = (task.get("componentRef") or {}).get("name")
        if ref not in components:
            raise Reject(
                400, f"invalid pipeline spec: task {name!r} refers to unknown component {ref!r}"
            )
        for dep in task.get("dependentTasks") or []:
            if dep not in tasks:
                raise Reject(400, f"invalid pipeline spec: task {name!r} depends on {dep!r}")
    for cname, comp in components.items():
        label = comp.get("executorLabel")
        if label and label not in executors:
            raise Reject(400, f"invalid pipeline spec: component {cname!r} has no executor")
    for ename, ex in executors.items():
        if not (ex.get("container") or {}).get("image") and "importer" not in ex:
            raise Reject(400, f"invalid pipeline spec: executor {ename!r} has no image")
    return spec, platform


def check_parameters(spec: dict[str, Any], given: dict[str, Any]) -> None:
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    for name, value in given.items():
        if name not in declared:
            raise Reject(
                400, f"invalid run: unknown parameter {name!r}; pipeline inputs: {sorted(declared)}"
            )
        kind = declared[name].get("parameterType", "STRING")
        allowed = _TYPES.get(kind, (object,))
        if not isinstance(value, allowed) or (
            kind.startswith("NUMBER") and isinstance(value, bool)
        ):
            raise Reject(400, f"invalid run: parameter {name!r} expects {kind}, got {value!r}")
    for name, decl in declared.items():
        if name not in given and "defaultValue" not in decl and not decl.get("isOptional"):
            raise Reject(400, f"invalid run: required parameter {name!r} is missing")


def dag_order(spec: dict[str, Any]) -> list[str]:
    """Root task display names in dependency order (ties by name)."""
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    from graphlib import TopologicalSorter

    ts = TopologicalSorter({k: set(v.get("dependentTasks") or []) for k, v in tasks.items()})
    ts.prepare()
    order: list[str] = []
    while ts.is_active():
        ready = sorted(ts.get_ready())
        order.extend(ready)
        ts.done(*ready)
    return [str((tasks[k].get("taskInfo") or {}).get("name") or k) for k in order]


@dataclass
class KfpServer:
    """The state and knobs of one contract server (see module docstring)."""

    prefix: str = ""
    required_token: str | None = None
    force_status: int | None = None
    transient: int = 0
    reset: int = 0
    outside: str = "404"  # what answers outside `prefix`: "404", "html" or "login" (302)
    fail_steps: set[str] = field(default_factory=set)
    multi_user: bool = False
    max_seconds: float = 120.0
    requests: list[Recorded] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, Version] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    answers_checked: int = 0  # API answers compared with KFP's models (see kfp_schema)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> KfpServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                server._handle(self)

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self._timer = threading.Timer(self.max_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._timer is not None:
            self._timer.cancel()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- helpers for assertions ---------------------------------------------------------
    def calls(self, method: str, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    def uploaded(self) -> list[Version]:
        return sorted(self.versions.values(), key=lambda v: v.created_at)

    def assert_answers_fit(self) -> None:
        """Fail when any API answer did not fit KFP's model for its route."""
        assert not self.schema_errors, "kfp_server sent answers KFP's models reject:\n" + (
            "\n".join(self.schema_errors)
        )

    # -- request handling ---------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}  # HTTP header names are case-blind
        rec = Recorded(h.command, parts.path, parse_qs(parts.query), headers, body)
        with self._lock:
            self.requests.append(rec)
            if self.reset > 0:  # drop the connection without an answer
                self.reset -= 1
                h.close_connection = True
                return
            try:
                status, payload = self._route(rec)
            except Redirect as red:
                status, payload = 302, {"location": red.location}
            except Reject as rej:
                status, payload = rej.status, self._error_body(rec.path, rej)
            status, payload = self._checked(rec, status, payload)
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        h.send_response(status)
        if status == 302:
            h.send_header("Location", payload["location"])
        h.send_header(
            "Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain"
        )
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _api_path(self, path: str) -> str | None:
        """``path`` below /apis/v2beta1 when it is an API path of this server, else None."""
        root = self.prefix + API
        return path[len(root) :] if path.startswith(root) else None

    def _error_body(self, path: str, rej: Reject) -> dict[str, Any]:
        # The upload handlers write KFP's own error JSON; the gRPC gateway a google.rpc.Status.
        if self._api_path(path) in kfp_schema.UPLOAD_PATHS:
            return {"error_message": rej.message, "error_details": rej.message}
        return {"code": _grpc(rej.status), "message": rej.message, "details": []}

    def _checked(self, r: Recorded, status: int, payload: Any) -> tuple[int, Any]:
        """``(status, payload)``, or a 500 when the body does not fit KFP's model for the route
        (the problems are kept in :attr:`schema_errors`, which the fixture asserts empty)."""
        path = self._api_path(r.path)
        if path is None or isinstance(payload, bytes) or status == 302:
            return status, payload  # an ingress or dashboard page: no KFP model applies
        problems = kfp_schema.check_response(r.method, path, status, payload)
        self.answers_checked += 1
        if not problems:
            return status, payload
        what = f"{r.method} {r.path} -> {status}"
        self.schema_errors.extend(f"{what}: {p}" for p in problems)
        message = f"kfp_server's answer to {what} does not match KFP's model: {problems}"
        return 500, {"code": 13, "message": message, "details": []}

    def _route(self, r: Recorded) -> tuple[int, Any]:
        if self.force_status:
            raise Reject(self.force_status, f"forced status {self.force_status}")
        if self.transient > 0:
            self.transient -= 1
            raise Reject(500, "transient failure")
        if not r.path.startswith(self.prefix + API):
            if self.outside == "html":  # a dashboard that answers every path with its page
                return 200, b"<!doctype html><title>Kubeflow Central Dashboard</title>"
            if self.outside == "login":
                raise Redirect("/dex/auth?client_id=kubeflow-oidc-authservice")
            return 404, b"404 page not found\n"
        if self.required_token is not None:
            if r.headers.get("authorization") != f"Bearer {self.required_token}":
                raise Reject(401, "Unauthorized: no valid bearer token")
        path = r.path[len(self.prefix + API) :]
        q = {k: v[-1] for k, v in r.query.items()}
        m = r.method
        if path == "/healthz" and m == "GET":
            return 200, {"multi_user": self.multi_user, "pipeline_store": "database"}
        if path == "/pipelines/upload" and m == "POST":
            return 200, self._upload(r, q)
        if path == "/pipelines/upload_version" and m == "POST":
            return 200, self._upload_version(r, q)
        if path == "/pipelines" and m == "GET":
            items = [p for p in self.pipelines.values() if _matches(p, q.get("filter"))]
            return 200, {"pipelines": items, "total_size": len(items)} if items else {}
        seg = path.strip("/").split("/")
        if seg[0] == "pipelines" and len(seg) >= 2 and seg[1] in self.pipelines:
            if len(seg) == 2 and m == "GET":
                return 200, self.pipelines[seg[1]]
            if len(seg) == 3 and seg[2] == "versions" and m == "GET":
                vs = [v for v in self.versions.values() if v.pipeline_id == seg[1]]
                vs.sort(key=lambda v: v.created_at, reverse="desc" in q.get("sort_by", ""))
                vs = [v for v in vs if _matches({"display_name": v.name}, q.get("filter"))]
                size = int(q.get("page_size") or 0) or len(vs)
                return 200, {
                    "pipeline_versions": [_version_json(v) for v in vs[:size]],
                    "total_size": len(vs),
                }
            if len(seg) == 4 and seg[2] == "versions" and seg[3] in self.versions and m == "GET":
                return 200, _version_json(self.versions[seg[3]])
        if path == "/experiments" and m == "POST":
            return 200, self._create_experiment(json.loads(r.body or b"{}"))
        if path == "/experiments" and m == "GET":
            items = [
                e
                for e in self.experiments.values()
                if _matches(e, q.get("filter"))
                and (not q.get("namespace") or e.get("namespace") == q["namespace"])
            ]
            return 200, {"experiments": items, "total_size": len(items)} if items else {}
        if seg[0] == "experiments" and len(seg) == 2 and seg[1] in self.experiments:
            return 200, self.experiments[seg[1]]
        if path == "/runs" and m == "POST":
            return 200, self._create_run(json.loads(r.body or b"{}"))
        if path == "/runs" and m == "GET":
            runs = [
                x
                for x in self.runs.values()
                if not q.get("experiment_id") or x.body.get("experiment_id") == q["experiment_id"]
            ]
            runs.sort(key=lambda x: x.created_at, reverse=True)
            return 200, {"runs": [self._run_json(x) for x in runs], "total_size": len(runs)}
        if seg[0] == "runs" and len(seg) == 2 and m == "GET":
            run = self.runs.get(seg[1])
            if run is None:
                raise Reject(404, f"run {seg[1]} not found")
            run.polls += 1
            return 200, self._run_json(run)
        raise Reject(404, f"no route {m} {r.path}")

    def _file(self, r: Recorded) -> str:
        ctype = r.headers.get("content-type", "")
        if "multipart/form-data" not in ctype:
            raise Reject(400, "upload must be multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + r.body
        )
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "uploadfile":
                return part.get_payload(decode=True).decode("utf-8")
        raise Reject(400, "multipart body has no `uploadfile` part")

    def _new_version(self, pipeline_id: str, name: str, raw: str) -> Version:
        spec, platform = validate_package(raw)
        if any(v.pipeline_id == pipeline_id and v.name == name for v in self.versions.values()):
            raise Reject(
                409, f"Failed to create a pipeline version: a version named {name!r} already exists"
            )
        v = Version(pipeline_id, uuid.uuid4().hex, name, spec, platform, raw, _now())
        self.versions[v.version_id] = v
        return v

    def _upload(self, r: Recorded, q: dict[str, str]) -> dict[str, Any]:
        raw = self._file(r)
        name = q.get("name") or q.get("display_name")
        if not name:
            raise Reject(400, "pipeline name is required")
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise Reject(409, f"Failed to create a pipeline: pipeline {name!r} already exists")
        pid = uuid.uuid4().hex
        self._new_version(pid, name, raw)  # the server's default version is named like the pipeline
        pipe = {
            "pipeline_id": pid,
            "display_name": name,
            "name": name,
            "description": q.get("description", ""),
            "created_at": _now(),
        }
        if q.get("namespace"):
            pipe["namespace"] = q["namespace"]
        self.pipelines[pid] = pipe
        return pipe

    def _upload_version(self, r: Recorded, q: dict[str, str]) -> dict[str, Any]:
        raw = self._file(r)
        pid = q.get("pipelineid")
        if pid not in self.pipelines:
            raise Reject(404, f"pipeline {pid!r} not found")
        if not q.get("name"):
            raise Reject(400, "pipeline version name is required")
        return _version_json(self._new_version(pid, q["name"], raw))

    def _create_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("display_name")
        if not name:
            raise Reject(400, "experiment display_name is required")
        if self.multi_user and not body.get("namespace"):
            raise Reject(400, "a namespace is required in multi-user mode")
        if any(
            e["display_name"] == name and e.get("namespace") == body.get("namespace")
            for e in self.experiments.values()
        ):
            raise Reject(409, f"experiment {name!r} already exists")
        exp = {
            "experiment_id": uuid.uuid4().hex,
            "display_name": name,
            "description": body.get("description") or "",
            "created_at": _now(),
            "storage_state": "AVAILABLE",
        }
        if body.get("namespace"):
            exp["namespace"] = body["namespace"]
        self.experiments[exp["experiment_id"]] = exp
        return exp

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("experiment_id") not in self.experiments:
            raise Reject(404, f"experiment {body.get('experiment_id')!r} not found")
        ref = body.get("pipeline_version_reference") or {}
        if ref:
            v = self.versions.get(ref.get("pipeline_version_id", ""))
            if v is None or v.pipeline_id != ref.get("pipeline_id"):
                raise Reject(404, "pipeline version not found")
            spec = v.spec
        elif body.get("pipeline_spec"):
            spec = body["pipeline_spec"]
        else:
            raise Reject(400, "a run needs a pipeline_version_reference or a pipeline_spec")
        params = (body.get("runtime_config") or {}).get("parameters") or {}
        check_parameters(spec, params)
        steps = dag_order(spec)
        run = Run(
            uuid.uuid4().hex,
            body,
            spec,
            steps,
            created_at=_now(),
            fail_at=next((s for s in steps if s in self.fail_steps), None),
        )
        self.runs[run.run_id] = run
        return self._run_json(run)

    def _run_json(self, run: Run) -> dict[str, Any]:
        # poll 0 (create): PENDING; poll k>=1: step k-1 running; then the final state.
        n = len(run.steps)
        done_upto = run.polls - 1  # steps before this index have finished
        tasks = []
        state = "PENDING" if run.polls == 0 else "RUNNING"
        for i, name in enumerate(run.steps):
            if run.polls == 0 or i > done_upto:
                break
            if i < done_upto:
                st = "FAILED" if name == run.fail_at else "SUCCEEDED"
            else:
                st = "RUNNING"
            tasks.append(
                {
                    "run_id": run.run_id,
                    "task_id": f"{run.run_id}-{i}",
                    "display_name": name,
                    "state": st,
                    "create_time": run.created_at,
                    "pod_name": f"{name}-pod-{i}",
                }
            )
            if st == "FAILED":
                state = "FAILED"
                tasks[-1]["error"] = {"code": 2, "message": f"step {name} exited with code 1"}
                break
        if state != "FAILED" and done_upto >= n:
            state = "SUCCEEDED"
        # The root DAG and drivers are tasks too on a real server: include them.
        details = [{"display_name": "root", "state": state, "task_id": f"{run.run_id}-root"}]
        details += [
            {"display_name": f"{t['display_name']}-driver", "state": "SUCCEEDED"} for t in tasks
        ]
        out = dict(run.body)
        out.update(
            {
                "run_id": run.run_id,
                "state": state,
                "created_at": run.created_at,
                "storage_state": "AVAILABLE",
                "run_details": {"task_details": details + tasks},
            }
        )
        if state == "FAILED":
            out["error"] = {"code": 2, "message": f"step {run.fail_at} failed"}
        if state in ("SUCCEEDED", "FAILED"):
            out["finished_at"] = _now()
        return out


def _version_json(v: Version) -> dict[str, Any]:
    return {
        "pipeline_id": v.pipeline_id,
        "pipeline_version_id": v.version_id,
        "display_name": v.name,
        "name": v.name,
        "created_at": v.created_at,
        "pipeline_spec": v.spec,
    }


def _matches(item: dict[str, Any], filt: str | None) -> bool:
    if not filt:
        return True
    for pred in json.loads(filt).get("predicates", []):
        op = pred.get("operation") or pred.get("op")
        if op in ("EQUALS", 1) and str(item.get(pred["key"])) != pred.get(
            "stringValue", pred.get("string_value")
        ):
            return False
    return True


def _grpc(status: int) -> int:
    return {400: 3, 401: 16, 403: 7, 404: 5, 409: 6}.get(status, 13)
