"""Check a JSON response body against the KFP v2beta1 models ``kfp.Client`` deserializes it into.

The expected model of each route is read from ``kfp_server_api``'s generated API classes (the
``response_type`` each ``call_api('/apis/v2beta1/...', METHOD, ...)`` declares), not from a
table of ours. A body is then checked twice:

* strictly, by walking the model's swagger types (``openapi_types`` / ``attribute_map``):
  every key must be a field of the model, every value of the declared JSON type (``int`` a
  number, ``str`` a string, ``datetime`` an RFC 3339 UTC time as protojson writes it), every
  enum value one of the enum model's ``allowable_values`` (e.g. ``V2beta1RuntimeState``), no
  ``null`` outside ``object`` fields. The generated client itself is lenient (it drops unknown
  keys, passes enum strings through and coerces primitives), so this walk is the real check;
* by ``ApiClient.deserialize`` itself, with ``client_side_validation`` on, as the client does
  (it parses the datetimes, builds every model and runs the setters' pattern checks).

Errors: the gRPC-gateway answers with a ``google.rpc.Status`` (``GoogleRpcStatus``); the
multipart upload handlers write their own ``{"error_message", "error_details"}`` body (KFP's
``PipelineUploadServer.writeErrorToResponse``), which no generated model covers: its two
string fields are checked here.
"""

from __future__ import annotations

import inspect
import json
import re
from functools import cache
from typing import Any

import kfp_server_api
import kfp_server_api.api
import kfp_server_api.models

# protojson writes a Timestamp in UTC with 0, 3, 6 or 9 fractional digits.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z")
_CALL = re.compile(
    r"call_api\(\s*'(?P<path>/apis/v2beta1/[^']*)',\s*'(?P<method>[A-Z]+)',"
    r".*?response_type=(?P<type>None|'[^']*')",
    re.S,
)
UPLOAD_PATHS = ("/pipelines/upload", "/pipelines/upload_version")
UPLOAD_ERROR_FIELDS = ("error_message", "error_details")


@cache
def routes() -> list[tuple[str, re.Pattern[str], str | None]]:
    """(method, path pattern, response type) of every v2beta1 call of the generated client.

    Templates with fewer ``{parameters}`` come first, so ``/pipelines/upload`` wins over
    ``/pipelines/{pipeline_id}``.
    """
    found: list[tuple[int, str, re.Pattern[str], str | None]] = []
    for _, cls in inspect.getmembers(kfp_server_api.api, inspect.isclass):
        for m in _CALL.finditer(inspect.getsource(cls)):
            template = m["path"][len("/apis/v2beta1") :]
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
            rtype = None if m["type"] == "None" else m["type"].strip("'")
            found.append((template.count("{"), m["method"], re.compile(pattern + "$"), rtype))
    found.sort(key=lambda f: f[0])
    return [(method, pattern, rtype) for _, method, pattern, rtype in found]


def response_type(method: str, path: str) -> str | None:
    """The model name the client expects for ``method path`` (path below /apis/v2beta1).

    Raises KeyError for a route the generated client does not have.
    """
    for m, pattern, rtype in routes():
        if m == method and pattern.match(path):
            return rtype
    raise KeyError(f"{method} {path} is not a route of kfp_server_api's v2beta1 client")


def check(data: Any, type_name: str) -> list[str]:
    """Every mismatch of ``data`` (parsed JSON) with the model ``type_name``; [] when it fits."""
    problems: list[str] = []
    _walk(data, type_name, "$", problems)
    if not problems:
        problems += _client_deserialize(data, type_name)
    return problems


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Mismatches of one response of the fake server (``path`` below /apis/v2beta1)."""
    if status >= 400:
        if path in UPLOAD_PATHS:
            return _check_upload_error(body)
        return check(body, "GoogleRpcStatus")
    try:
        rtype = response_type(method, path)
    except KeyError as exc:
        return [str(exc.args[0])]
    if rtype in (None, "object"):  # e.g. DELETE: the client reads nothing typed
        return [] if isinstance(body, dict) else [f"$: expected a JSON object, got {body!r}"]
    return check(body, rtype)


def _check_upload_error(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return [f"$: the upload error body must be a JSON object, got {body!r}"]
    problems = [
        f"$.{k}: not a field of the upload error body" for k in body if k not in UPLOAD_ERROR_FIELDS
    ]
    problems += [
        f"$.{k}: expected a string, got {body.get(k)!r}"
        for k in UPLOAD_ERROR_FIELDS
        if not isinstance(body.get(k), str)
    ]
    return problems


def _walk(value: Any, t: str, where: str, out: list[str]) -> None:
    if value is None:
        if t != "object":
            out.append(f"{where}: null for a {t} (protojson omits unset fields, never nulls them)")
        return
    if t.startswith("list["):
        if not isinstance(value, list):
            out.append(f"{where}: expected a list ({t}), got {type(value).__name__} {value!r}")
            return
        for i, item in enumerate(value):
            _walk(item, t[5:-1], f"{where}[{i}]", out)
        return
    if t.startswith("dict("):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object ({t}), got {type(value).__name__}")
            return
        inner = t[5:-1].split(", ", 1)[1]
        for k, item in value.items():
            _walk(item, inner, f"{where}[{k!r}]", out)
        return
    if t == "object":
        return
    if t == "str":
        if not isinstance(value, str):
            out.append(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return
    if t == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return
    if t == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return
    if t == "bool":
        if not isinstance(value, bool):
            out.append(f"{where}: expected a boolean, got {type(value).__name__} {value!r}")
        return
    if t in ("datetime", "date"):
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            out.append(f"{where}: expected an RFC 3339 UTC time, got {value!r}")
        return
    klass = getattr(kfp_server_api.models, t, None)
    if klass is None:
        out.append(f"{where}: unknown swagger type {t!r}")
        return
    allowed = getattr(klass, "allowable_values", None)
    if allowed is not None:  # an enum model
        if value not in allowed:
            out.append(f"{where}: {value!r} is not a {t} (allowed: {', '.join(allowed)})")
        return
    if not isinstance(value, dict):
        out.append(f"{where}: expected a {t} object, got {type(value).__name__} {value!r}")
        return
    fields = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            out.append(f"{where}.{key}: not a field of {t} (fields: {', '.join(fields)})")
            continue
        _walk(item, klass.openapi_types[fields[key]], f"{where}.{key}", out)


class _Response:
    """What ``ApiClient.deserialize`` reads of a urllib3 response."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def _client_deserialize(data: Any, type_name: str) -> list[str]:
    config = kfp_server_api.Configuration()
    config.client_side_validation = True
    client = kfp_server_api.ApiClient(config)
    try:
        client.deserialize(_Response(json.dumps(data).encode()), type_name)
    except Exception as exc:  # noqa: BLE001 - any failure of the client's own parse is the finding
        return [f"$: kfp_server_api could not deserialize it as {type_name}: {exc!r}"]
    finally:
        client.close()
    return []
