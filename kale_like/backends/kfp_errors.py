"""Failures of Kubeflow Pipelines calls: retry policy and mapping to kale_like errors.

Transient failures (5xx, connection resets) are retried with exponential backoff; everything
else becomes an :mod:`kale_like.errors` class with a fix (401/403 say how to provide a
token, 404 names the ``/pipeline`` prefix, TLS and unreachable hosts say what to check).
Credentials are scrubbed from every message.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, KaleError, UsageError
from ..kfp_config import TOKEN_HELP, redact

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


# ------------------------------------------------------------------ compile refusals
#
# KFP checks a pipeline while the generated module runs its `@dsl.pipeline` body (the
# task calls and setting methods) and while compiling. Its messages name what it saw: a
# setting value, or a generated input/output name. The DSL itself records how those map
# back to the user's notebook (`set_display_name` gives the step of a task, the
# `run_step(inputs=..., outputs=..., parameters=...)` dicts give the user's name of each
# argument), so the refusal is traced to the statement KFP refused and told in the user's
# names: step, tag and cell for a setting, variable or parameter for a name.

# Setting calls of the templates (codegen/settings.py) -> tag keyword.
_TASK_SETTINGS = {
    "set_cpu_limit": ("limit", "cpu"),
    "set_cpu_request": ("request", "cpu"),
    "set_memory_limit": ("limit", "memory"),
    "set_memory_request": ("request", "memory"),
    "set_accelerator_type": ("limit", None),
    "set_accelerator_limit": ("limit", None),
    "set_env_variable": ("env", None),
    "set_caching_options": ("cache", None),
    "set_retry": ("retry", None),
}
_K8S_SETTINGS = {
    "set_timeout": "timeout",
    "add_node_selector": "node-selector",
    "use_secret_as_env": "secret",
    "use_config_map_as_env": "configmap",
    "set_security_context": "security-context",
    "mount_pvc": "volume",
    "add_pod_label": "label",
    "add_pod_annotation": "annotation",
    "add_toleration": "toleration",
}
# What KFP accepts, per setting (checked against kfp 2.17's validators).
_SETTING_FIXES = {
    "cpu": "KFP takes a number of cores (1, 0.5) or whole millicores (500m), e.g. {example}",
    "memory": "KFP takes a whole number, alone (bytes) or followed by one of E, P, T, G, M, "
    "K, Ei, Pi, Ti, Gi, Mi, Ki (no decimals, lower-case k or m, or exponent), e.g. {example}",
    "accelerator": "KFP takes a whole number of devices, e.g. {example}",
    "timeout": "KFP takes a whole number of seconds, e.g. {example}",
}
_DEFAULT_VALUES = {"cpu": "500m", "memory": "2Gi", "accelerator": "1", "timeout": "3600"}
# Kubernetes quantity suffixes -> factor.
_FACTORS: dict[str, Fraction | int] = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9,
    "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
    "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:[eE]([0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkKMGTPE]))?")


def _quantity(text: str) -> Fraction | None:
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number, exponent, suffix = match.groups()
    return Fraction(number) * (10 ** int(exponent) if exponent else _FACTORS[suffix or ""])


def _kfp_value(family: str, value: str) -> str | None:
    """The same amount spelled as KFP accepts it, when there is one (``1.5Gi`` -> ``1536Mi``,
    ``2k`` -> ``2K``, ``1e3`` -> ``1000``); None when the amount itself cannot be taken."""
    amount = _quantity(value)
    if amount is None or amount < 0:
        return None
    suffix = _QUANTITY.fullmatch(value).group(3)  # type: ignore[union-attr]
    if family != "memory" and suffix not in (None, "m"):
        return None  # `cpu:2Gi` is a slip for memory, not two billion cores
    if family == "memory":
        if amount.denominator != 1:
            return None
        binary = "i" in value
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki") if binary else "EPTGMK":
            if amount % _FACTORS[suffix] == 0:
                return f"{amount // _FACTORS[suffix]}{suffix}"
        return str(amount)
    if family == "cpu":
        millis = amount * 1000
        if millis.denominator != 1:
            return None
        return str(amount.numerator) if amount.denominator == 1 else f"{millis}m"
    if family in ("accelerator", "timeout") and amount.denominator == 1:
        return str(amount)
    return None


def _setting_fix(family: str | None, tag: str) -> str | None:
    if family not in _SETTING_FIXES:
        return None
    head, _, value = tag.rpartition(":")
    better = _kfp_value(family, value)
    if better is not None and better != value:
        return _SETTING_FIXES[family].format(example=f"{head}:{better}") + " (the same amount)"
    return _SETTING_FIXES[family].format(example=f"{head}:{_DEFAULT_VALUES[family]}")


@dataclass
class _DslMap:
    """What the generated module says about the user's names."""

    task_step: dict[str, str]  # task variable -> step
    function_step: dict[str, str]  # component function -> step
    args: dict[str, dict[str, tuple[str, str]]]  # function -> argument -> (kind, user name)
    pipeline_args: dict[str, str]  # pipeline parameter -> user name


def _read_dsl_map(tree: Any) -> _DslMap:
    import ast

    task_step: dict[str, str] = {}
    task_function: dict[str, str] = {}
    args: dict[str, dict[str, tuple[str, str]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name == "pipeline":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                    target, func = stmt.targets[0], stmt.value.func
                    if isinstance(target, ast.Name) and isinstance(func, ast.Name):
                        task_function[target.id] = func.id
                call = stmt.value if isinstance(stmt, ast.Expr) else None
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "set_display_name"
                    and isinstance(call.func.value, ast.Name)
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                ):
                    task_step[call.func.value.id] = str(call.args[0].value)
            continue
        args[node.name] = _component_args(node)
    function_step = {task_function[t]: s for t, s in task_step.items() if t in task_function}
    pipeline_args = {
        arg: user
        for mapping in args.values()
        for arg, (kind, user) in mapping.items()
        if kind == "parameter"
    }
    return _DslMap(task_step, function_step, args, pipeline_args)


def _component_args(node: Any) -> dict[str, tuple[str, str]]:
    """Argument -> (kind, user name) from the ``run_step(...)`` call of a component body."""
    import ast

    kinds = {"inputs": "variable", "outputs": "variable", "parameters": "parameter"}
    found: dict[str, tuple[str, str]] = {}
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "run_step"):
            continue
        for kw in call.keywords:
            if kw.arg not in kinds or not isinstance(kw.value, ast.Dict):
                continue
            for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name)]
                arg = next((n for n in names if n != "json"), None)
                if isinstance(key, ast.Constant) and arg is not None:
                    found[arg] = (kinds[kw.arg], str(key.value))
    return found


def _dsl_lineno(exc: BaseException, dsl_path: Path) -> int | None:
    """Line of the generated module KFP was executing when it raised (innermost frame)."""
    import traceback

    target = str(dsl_path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            same = str(Path(frame.filename).resolve()) == target
        except OSError:
            same = False
        if same:
            line = frame.lineno
    return line


def _statement_at(tree: Any, lineno: int) -> Any:
    """The innermost statement spanning ``lineno``."""
    import ast

    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= lineno <= (node.end_lineno or 0):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best


def _literals(call: Any) -> list[Any]:
    import ast

    values = [*call.args, *(kw.value for kw in call.keywords)]
    out = []
    for value in values:
        try:
            out.append(ast.literal_eval(value))
        except ValueError:
            out.append(None)
    return out


def _setting_site(stmt: Any, dsl: _DslMap, pipeline: Any) -> tuple[str, str, str | None] | None:
    """(step, tag text, setting family) of a setting call the templates emit, else None."""
    import ast

    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    func = call.func
    receiver = func.value.id if isinstance(func.value, ast.Name) else None
    values = _literals(call)
    if receiver in dsl.task_step and func.attr in _TASK_SETTINGS:
        step = dsl.task_step[receiver]
        keyword, resource = _TASK_SETTINGS[func.attr]
        if resource is not None:
            return step, f"{keyword}:{resource}:{values[0]}", resource
        if func.attr in ("set_accelerator_type", "set_accelerator_limit"):
            return step, _accelerator_tag(step, func.attr, values[0], pipeline), "accelerator"
        if func.attr == "set_env_variable":
            return step, f"env:{values[0]}={values[1]}", None
        if func.attr == "set_caching_options":
            return step, "cache:" + ("enabled" if values[0] else "disabled"), None
        return step, f"retry:{values[0]}", None
    first = call.args[0] if call.args else None
    if receiver == "kubernetes" and func.attr in _K8S_SETTINGS and isinstance(first, ast.Name):
        k8s_step = dsl.task_step.get(first.id)
        if k8s_step is None:
            return None
        step = k8s_step
        keyword = _K8S_SETTINGS[func.attr]
        parts = [str(v) for v in values[1:] if isinstance(v, (str, int))]
        if keyword in ("timeout", "node-selector", "volume", "label", "annotation"):
            return step, ":".join([keyword, *parts]), keyword if keyword == "timeout" else None
        return step, f"{keyword}:…", None
    return None


def _accelerator_tag(step: str, method: str, value: Any, pipeline: Any) -> str:
    """``limit:``/``request:RESOURCE:VALUE`` as the user wrote it (KFP sets only limits)."""
    settings = None
    if pipeline is not None:
        settings = next((s.settings for s in pipeline.steps if s.name == step), None)
    if settings is not None:
        for keyword, pairs in (("limit", settings.limits), ("request", settings.requests)):
            for resource, quantity in pairs:
                if (method == "set_accelerator_type" and resource == value) or (
                    method == "set_accelerator_limit" and quantity == value
                ):
                    return f"{keyword}:{resource}:{quantity}"
    return f"limit:RESOURCE:{value}" if method == "set_accelerator_limit" else f"limit:{value}:N"


def _tag_cell(pipeline: Any, step: str, tag: str) -> tuple[int | None, str | None, bool]:
    """(cell, notebook path, found on a cell) of the tag of ``step``; the step's first cell
    and the main notebook when no cell carries it (it came from notebook metadata)."""
    if pipeline is None:
        return None, None, False
    found = next((s for s in pipeline.steps if s.name == step), None)
    if found is None:
        return None, pipeline.notebook_path, False
    path = pipeline.notebook_path
    sub = getattr(found, "notebook", None)  # a composed step's own notebook
    if path and sub:
        path = str(Path(path).parent / sub)
    if path:
        try:
            from ..notebook import read_notebook

            cells = {c.index: c for c in read_notebook(path, collect_tag_errors=True).cells}
        except KaleError:
            cells = {}
        for index in found.cells:
            if tag in getattr(cells.get(index), "raw_tags", ()):
                return index, path, True
    return (found.cells[0] if found.cells else None), path, False


def _user_text(text: str, dsl: _DslMap) -> tuple[str, list[tuple[str, str]]]:
    """KFP's message with each generated name followed by the user's name it stands for,
    and the (kind, user name) pairs it mentions."""

    names: dict[str, str] = {}
    users: dict[str, tuple[str, str]] = {}
    for fn, mapping in dsl.args.items():
        step = dsl.function_step.get(fn)
        for arg, (kind, user) in mapping.items():
            if arg != user and arg not in names:
                where = f" of step {step!r}" if step and kind == "variable" else ""
                names[arg], users[arg] = f"{kind} {user!r}{where}", (kind, user)
    for fn, step in dsl.function_step.items():
        if fn != step and fn not in names:
            names[fn], users[fn] = f"step {step!r}", ("step", step)
    mentioned: list[tuple[str, str]] = []
    if not names:
        return text, mentioned
    # One pass: what is inserted is never rewritten again.
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")

    def explain(match: re.Match[str]) -> str:
        kind, user = users[match.group()]
        if kind != "step":
            mentioned.append((kind, user))
        return f"{match.group()} (the {names[match.group()]})"

    text = pattern.sub(explain, text)
    return text, mentioned
    return text


def compile_refusal(exc: BaseException, dsl_path: Path, pipeline: Any = None) -> KaleError:
    """The error to show when KFP refuses the generated module ``dsl_path``.

    A refused setting names the step, its tag (and the cell carrying it when ``pipeline``
    is given) and what KFP accepts; anything else names the step or variable KFP's message
    is about, in the user's names, and does not blame the settings.
    """
    import ast

    from ..errors import InputError

    text = str(exc).strip() or type(exc).__name__
    path = getattr(pipeline, "notebook_path", None)
    try:
        tree = ast.parse(dsl_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        tree = None
    dsl = _read_dsl_map(tree) if tree is not None else _DslMap({}, {}, {}, {})
    lineno = _dsl_lineno(exc, dsl_path)
    stmt = _statement_at(tree, lineno) if tree is not None and lineno else None
    site = _setting_site(stmt, dsl, pipeline) if stmt is not None else None
    if site is not None:
        step, tag, family = site
        cell, path, on_cell = _tag_cell(pipeline, step, tag)
        origin = "" if on_cell or pipeline is None else " (from the notebook metadata)"
        keyword = tag.split(":", 1)[0]
        fix = _setting_fix(family, tag)
        what = "this setting" if on_cell else f"the setting {tag!r}"
        return InputError(
            f"KFP refused {what} of step {step!r}{origin}: {text}",
            kind="kfp-compile-error",
            path=path,
            cell=cell,
            tag=tag if on_cell else None,
            fix=fix
            or f"change the value of the {keyword}: tag of step {step!r} to one KFP "
            "accepts (see `kale-like analyze --help` for the tag grammar)",
        )
    at = _step_of(stmt, tree, dsl) if stmt is not None else None
    cell = None
    if pipeline is not None and at is not None:
        found = next((s for s in pipeline.steps if s.name == at), None)
        cell = found.cells[0] if found is not None and found.cells else None
    about = f" at step {at!r}" if at else ""
    told, mentioned = _user_text(text, dsl)
    report = "please report it with the notebook: kale-like (for kfp 2.17) should have "
    if mentioned:
        kind, user = mentioned[0]
        fix = (
            f"rename the {kind} {user!r} to a plain name KFP takes (ASCII letters, digits "
            f"and _, starting with a letter, e.g. {_plain_name(user)}); and {report}"
            "made the name KFP-safe"
        )
    else:
        fix = f"this is not caused by a step setting; {report}generated a pipeline KFP takes"
    return InputError(
        f"KFP refused the pipeline{about}: {told}",
        kind="kfp-compile-error",
        path=path,
        cell=cell,
        fix=fix,
    )


def _plain_name(name: str) -> str:
    """An ASCII identifier starting with a letter, close to ``name``."""
    from ..codegen.names import transliterate

    text = re.sub(r"[^A-Za-z0-9_]+", "_", transliterate(name)).strip("_")
    return text if text[:1].isalpha() else "v_" + text


def _step_of(stmt: Any, tree: Any, dsl: _DslMap) -> str | None:
    """The step whose task call or component definition holds ``stmt``."""
    import ast

    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
        step = dsl.task_step.get(stmt.targets[0].id)
        if step:
            return step
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in dsl.function_step:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start <= stmt.lineno <= (node.end_lineno or 0):
                return dsl.function_step[node.name]
    return None
