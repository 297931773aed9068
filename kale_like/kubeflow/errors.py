"""Failures of Kubeflow Pipelines calls: retry policy and mapping to kale_like errors.

Transient failures (5xx, connection resets) are retried with exponential backoff; everything
else becomes an :mod:`kale_like.errors` class with a fix (401/403 say how to provide a
token, 404 names the ``/pipeline`` prefix, TLS and unreachable hosts say what to check).
Credentials are scrubbed from every message.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import EnvironmentProblem, KaleError, UsageError
from .config import TOKEN_HELP, redact
from .refusals import compile_refusal as compile_refusal  # its home before the split

TRANSIENT_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Retry:
    """Backoff policy: ``attempts`` tries, waits ``base``, 2×base, … capped at ``cap`` seconds."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0

    def delays(self) -> list[float]:
        return [min(self.cap, self.base * 2**i) for i in range(self.attempts - 1)]


DEFAULT_RETRY = Retry()


def classify(exc: BaseException, host: str | None) -> KaleError | None:
    """Map a client/transport failure to a kale_like error (None: not ours to map)."""
    status = getattr(exc, "status", None)
    if status is None and isinstance(exc, urllib.error.HTTPError):
        status = exc.code
    text = f"{type(exc).__name__}: {getattr(exc, 'reason', '') or exc}"
    where = host or "the KFP endpoint"
    if status == 401:
        return EnvironmentProblem(
            f"{where} refused the request: 401 Unauthorized (no valid token was sent)",
            kind="kfp-unauthorized",
            fix=TOKEN_HELP,
        )
    if status == 403:
        return EnvironmentProblem(
            f"{where} refused the request: 403 Forbidden (the token is not allowed here)",
            kind="kfp-forbidden",
            fix="in a multi-user Kubeflow pass your profile namespace with --namespace, and "
            "check the token belongs to a user or service account with access to it",
        )
    if status == 404 and _api_error(exc):
        # The API answered (a gRPC-gateway error body): the thing asked for does not exist.
        return UsageError(
            f"not found on {where}: {_body(exc)}",
            kind="kfp-not-found-resource",
            fix="check the id or name (`kale-like runs list --remote` lists runs)",
        )
    if status == 404:
        return EnvironmentProblem(
            f"{where} has no Kubeflow Pipelines API at /apis/v2beta1 (404 Not Found)",
            kind="kfp-not-found",
            fix="check the path prefix of the host: behind the Kubeflow gateway the API lives "
            "under /pipeline, e.g. --host https://kubeflow.example.com/pipeline",
        )
    if status == 409:
        return UsageError(
            f"{where} rejected the request as a conflict: {_body(exc)}",
            kind="kfp-conflict",
            fix="pick another --version name; existing versions are never overwritten",
        )
    if status == 400:
        return UsageError(
            f"{where} rejected the request: {_body(exc)}",
            kind="kfp-bad-request",
            fix="check the parameter names and values, the namespace and the names sent",
        )
    if isinstance(status, int) and status >= 500:
        return EnvironmentProblem(
            f"{where} failed with {status} after retries: {_body(exc)}", kind="kfp-server-error"
        )
    if isinstance(status, int) and status >= 400:  # 405, 413, 429 after retries, ...
        return EnvironmentProblem(f"{where} answered {status}: {_body(exc)}", kind="kfp-http-error")
    low = text.lower()
    if isinstance(exc, ssl.SSLError) or "ssl" in low or "certificate" in low or "tls" in low:
        return EnvironmentProblem(
            f"TLS handshake with {where} failed ({text})",
            kind="kfp-tls",
            fix="use http:// if the endpoint is plain HTTP, or give the CA bundle as "
            "`ssl_ca_cert:` under `kfp:` in ~/.config/kale-like/config.yaml",
        )
    if _is_connection_error(exc):
        return EnvironmentProblem(
            f"cannot reach {where} ({text})",
            kind="kfp-unreachable",
            fix="check the host and port (e.g. `kubectl port-forward -n kubeflow "
            "svc/ml-pipeline-ui 8080:80` then --host http://127.0.0.1:8080)",
        )
    return None


def _api_error(exc: BaseException) -> bool:
    """Whether the error body is KFP's JSON error (not an ingress's or a proxy's page)."""
    body = getattr(exc, "body", None)
    try:
        data = json.loads(body) if body else None
    except (ValueError, TypeError):
        return False
    return isinstance(data, dict) and ("code" in data or "error_message" in data)


def _body(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            data = json.loads(body)
            # google.rpc.Status (gRPC gateway) or the upload handlers' own error JSON.
            text = data.get("message") or data.get("error_message") or data.get("error")
            return str(text or body)[:500]
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(getattr(exc, "reason", "") or exc)[:500]


def _is_connection_error(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {
        "MaxRetryError",
        "NewConnectionError",
        "ProtocolError",
        "ConnectionError",
        "URLError",
        "RemoteDisconnected",
        "IncompleteRead",
    }:
        return True
    return isinstance(exc, (OSError, socket.timeout))


_RESET_ERRORS = {
    "ConnectionResetError",
    "ConnectionAbortedError",
    "RemoteDisconnected",
    "ProtocolError",
    "IncompleteRead",
    "BrokenPipeError",
}


def _transient(exc: BaseException) -> bool:
    """5xx answers and connections dropped mid-request (never refused/unknown hosts)."""
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    if isinstance(status, int) and status in TRANSIENT_STATUS:
        return True
    # Transports wrap the cause (URLError.reason, MaxRetryError.reason, exception chains).
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        if {c.__name__ for c in type(cur).__mro__} & _RESET_ERRORS:
            return True
        todo += [getattr(cur, "reason", None), cur.__cause__, cur.__context__, *cur.args]
    text = str(exc).lower()
    return "connection reset" in text or "connection aborted" in text


def with_retry(fn: Callable[[], Any], retry: Retry, host: str | None, secrets: list[str]) -> Any:
    delays = retry.delays()
    for attempt in range(retry.attempts):
        try:
            return fn()
        except KaleError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped below, never swallowed
            if attempt < len(delays) and _transient(exc):
                time.sleep(delays[attempt])
                continue
            mapped = classify(exc, host)
            if mapped is None:
                raise
            mapped.message = redact(mapped.message, secrets)
            raise mapped from None
    raise AssertionError("unreachable")
