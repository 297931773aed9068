"""Every request body of the REST verbs is checked here, before any work starts.

One place decides: how big a body and a notebook may be (413 past the limit, naming the
setting that raises it), what keys a verb's body may hold and their JSON types (400), which
options reach a verb (its signature: :mod:`.verb_options`), and where path-like values may
point (inside the server root, whatever nesting they arrive in: an
``engine_options.token_file`` is confined like a top-level ``output_dir``). No tornado here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

# flat_options and pack_options are re-exported: server/verbs.py takes them from here.
from .verb_options import check_options, flat_options, pack_options

__all__ = [
    "Forbidden",
    "Limits",
    "NotFound",
    "Request",
    "TooLarge",
    "check_notebook_size",
    "check_options",
    "confine",
    "flat_options",
    "pack_options",
    "parse_body",
    "read_request",
]

DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
# Analysis holds ~2.4 KB per source line: 50 000 lines stay near 120 MB.
DEFAULT_MAX_SOURCE_LINES = 50_000
MAX_DEPTH = 64  # a notebook is ~8 levels deep; far deeper JSON is an attack on recursion

ENV_MAX_BYTES = "KALE_LIKE_MAX_REQUEST_BYTES"
ENV_MAX_LINES = "KALE_LIKE_MAX_SOURCE_LINES"
# Keys of ServerApp.tornado_settings (c.ServerApp.tornado_settings = {...} in jupyter config).
SETTING_MAX_BYTES = "kale_like_max_request_bytes"
SETTING_MAX_LINES = "kale_like_max_source_lines"

_PATH_KEYS = frozenset(("output_dir", "wheelhouse", "token_file", "config_path", "images_file"))
_PATH_SUFFIXES = ("_file", "_dir", "_path")

# Top-level keys of each verb's body and the JSON type each must have.
_COMMON = {"path": str, "notebook": dict}
BODY_KEYS: dict[str, dict[str, type]] = {
    "analyze": dict(_COMMON),
    "compile": {**_COMMON, "output_dir": str, "observe": bool, "options": dict},
    "run": {**_COMMON, "parameters": dict, "options": dict},
    "build": {**_COMMON, "options": dict, "hints": dict},
    "deploy": {**_COMMON, "options": dict, "hints": dict, "observe": bool},
    "sweep": {**_COMMON, "options": dict, "hints": dict},
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


class Forbidden(Exception):
    """A path outside the server root (or the run root)."""


class NotFound(Exception):
    """A notebook or job that does not exist (answered as JSON like every other error)."""


class TooLarge(UsageError):
    """A body or notebook past a configured limit: HTTP 413."""

    http_status = 413
    default_kind = "too-large"


@dataclass(frozen=True)
class Limits:
    """Size limits of one server; see :meth:`from_settings` for where they come from."""

    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_source_lines: int = DEFAULT_MAX_SOURCE_LINES
    max_depth: int = MAX_DEPTH

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], env: Mapping[str, str] = os.environ
    ) -> Limits:
        """tornado settings (``ServerApp.tornado_settings``) > environment > defaults."""

        def pick(key: str, var: str, default: int) -> int:
            raw = settings.get(key, env.get(var))
            if raw in (None, ""):
                return default
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise UsageError(
                    f"{key} / ${var} must be a whole number, got {raw!r}", kind="bad-setting"
                ) from None
            return value if value > 0 else default

        return cls(
            max_bytes=pick(SETTING_MAX_BYTES, ENV_MAX_BYTES, DEFAULT_MAX_REQUEST_BYTES),
            max_source_lines=pick(SETTING_MAX_LINES, ENV_MAX_LINES, DEFAULT_MAX_SOURCE_LINES),
        )


def too_large_body(size: int, limits: Limits) -> TooLarge:
    return TooLarge(
        f"the request body ({size} bytes) is larger than the limit of {limits.max_bytes} bytes",
        kind="too-large",
        fix=f"send a smaller notebook (clear large outputs), or raise the limit: "
        f"${ENV_MAX_BYTES} or c.ServerApp.tornado_settings = "
        f"{{'{SETTING_MAX_BYTES}': N}} in the Jupyter server config",
    )


def _depth_ok(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def parse_body(raw: bytes, limits: Limits) -> dict[str, Any]:
    """The JSON object of a request body: 413 past the size limit, 400 when malformed."""
    if len(raw) > limits.max_bytes:
        raise too_large_body(len(raw), limits)
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"the request body is not JSON: {exc}", kind="bad-json") from exc
    except RecursionError:
        data = None  # reported below as too deep
    if data is None or not _depth_ok(data, limits.max_depth):
        raise UsageError(
            f"the request body nests deeper than {limits.max_depth} levels",
            kind="bad-json",
            fix="send a notebook and options as Jupyter writes them",
        )
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object", kind="bad-json")
    return data


def confine(root: Path, rel: Any, *, must_exist: bool = True, what: str = "path") -> Path:
    """Resolve ``rel`` inside ``root``; absolute paths, ``..`` and symlink escapes -> Forbidden."""
    if not isinstance(rel, str) or not rel.strip():
        raise UsageError(f"'{what}' must be a path relative to the server root", kind="no-path")
    if "\x00" in rel:
        raise UsageError(f"'{what}' holds a NUL character", kind="bad-path")
    if rel.startswith(("/", "\\")) or os.path.isabs(rel) or (len(rel) > 1 and rel[1] == ":"):
        raise Forbidden(rel)
    if ".." in Path(rel).parts:
        raise Forbidden(rel)
    try:
        full = (root / rel).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # too long, symlink loop, ...
        raise UsageError(f"'{what}' is not a usable path: {exc}", kind="bad-path") from None
    if not full.is_relative_to(root):
        raise Forbidden(rel)
    if must_exist and not full.exists():
        raise NotFound(f"no such file: {rel}")
    return full


def is_path_key(key: str) -> bool:
    """Whether an option named ``key`` holds a file system path (the server must confine it)."""
    return key in _PATH_KEYS or key.endswith(_PATH_SUFFIXES)


def confine_paths(root: Path, value: Any, where: str = "") -> Any:
    """A copy of ``value`` with every path-like key (at any depth) resolved inside ``root``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if is_path_key(str(key)) and item not in (None, ""):
                out[key] = str(confine(root, item, must_exist=False, what=name))
            else:
                out[key] = confine_paths(root, item, name)
        return out
    if isinstance(value, list):
        return [confine_paths(root, item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def source_lines(notebook: Mapping[str, Any]) -> int:
    """Source lines of a notebook's cells (what analysis memory grows with)."""
    total = 0
    cells = notebook.get("cells")
    for cell in cells if isinstance(cells, list) else ():
        src = cell.get("source") if isinstance(cell, dict) else None
        if isinstance(src, list):
            total += sum(s.count("\n") + 1 for s in src if isinstance(s, str))
        elif isinstance(src, str):
            total += src.count("\n") + 1
    return total


def check_notebook_size(notebook: Mapping[str, Any] | Path, limits: Limits) -> None:
    """413 for a notebook whose file or source is past the limits (before any analysis)."""
    if isinstance(notebook, Path):
        if not notebook.is_file():
            return  # the verb reports it
        size = notebook.stat().st_size
        if size > limits.max_bytes:
            raise TooLarge(
                f"the notebook {notebook.name} ({size} bytes) is larger than the limit of "
                f"{limits.max_bytes} bytes",
                kind="too-large",
                fix=f"clear its outputs, or raise ${ENV_MAX_BYTES} "
                f"(tornado setting '{SETTING_MAX_BYTES}')",
            )
        try:
            data = json.loads(notebook.read_bytes())
        except (ValueError, RecursionError):
            return  # not JSON: the verb reports it with its own message
        if not isinstance(data, dict) or not _depth_ok(data, limits.max_depth):
            return
        notebook = data
    lines = source_lines(notebook)
    if lines > limits.max_source_lines:
        raise TooLarge(
            f"the notebook has {lines} source lines, more than the limit of "
            f"{limits.max_source_lines} the server analyses",
            kind="too-large",
            fix=f"split the notebook, or raise ${ENV_MAX_LINES} "
            f"(tornado setting '{SETTING_MAX_LINES}')",
        )


# -- the whole body --------------------------------------------------------------------------


@dataclass
class Request:
    """A checked request: the notebook (JSON or an absolute path) and confined options."""

    verb: str
    notebook: dict[str, Any] | str
    path: str | None  # as the client named it (relative to the server root)
    saved: Path | None  # the saved notebook's resolved path, when ``path`` was given
    options: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] | None = None
    output_dir: Path | None = None
    observe: bool | None = None


def _check_keys(verb: str, data: Mapping[str, Any]) -> None:
    allowed = BODY_KEYS[verb]
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise UsageError(
            f"unknown key(s) {', '.join(map(repr, extra))} in the {verb} request",
            kind="bad-request",
            fix=f"{verb} takes: {', '.join(allowed)}",
        )
    for key, kind in allowed.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise UsageError(
                f"'{key}' must be {_JSON_NAMES[kind]}, got {json.dumps(value)[:80]}",
                kind={"notebook": "bad-notebook", "path": "bad-path"}.get(key, "bad-options"),
            )


def read_request(
    verb: str,
    data: dict[str, Any],
    root: Path,
    limits: Limits,
    verb_fn: Callable[..., Any] | None = None,
) -> Request:
    """Check a parsed body of ``verb`` and resolve its paths; raises before any work."""
    _check_keys(verb, data)
    path = data.get("path")
    saved: Path | None = None
    if isinstance(data.get("notebook"), dict):
        body: dict[str, Any] = data["notebook"]
        check_notebook_size(body, limits)
        notebook: dict[str, Any] | str = body
        if path not in (None, ""):
            # The unsaved notebook of a saved file: its folder is where the steps run.
            saved = confine(root, path, must_exist=False)
    else:
        saved = confine(root, path)
        check_notebook_size(saved, limits)
        notebook = str(saved)
    body = confine_paths(root, {k: v for k, v in data.items() if k not in ("notebook", "path")})
    req = Request(verb=verb, notebook=notebook, path=path, saved=saved)
    req.options = dict(body.get("options") or {})
    req.hints = dict(body.get("hints") or {})
    req.parameters = body.get("parameters")
    req.observe = body.get("observe")
    if body.get("output_dir"):
        req.output_dir = Path(body["output_dir"])
    if verb_fn is not None:
        skip = 2 if verb == "compile" else 1
        check_options(verb_fn, req.options, verb=verb, skip=skip)
        check_options(verb_fn, req.hints, verb=verb, skip=skip, unknown="ignore")
    engine = req.options.get("engine")
    if verb == "run" and engine is not None or req.options.get("engine_options"):
        from .. import engines

        name = str(engine or "local")
        if name not in engines.available():
            raise UsageError(
                f"unknown engine {name!r}; valid engines: {', '.join(engines.available())}",
                kind="unknown-engine",
            )
        engines.check_options(name, req.options.get("engine_options"))
    return req
