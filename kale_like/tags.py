"""The cell-tag grammar (Kale compatible): ``parse_tag`` / ``format_tag``, pure.

Every tag is ``KEYWORD`` or ``KEYWORD:REST``. The keyword is split off at the FIRST colon;
how REST splits depends on the keyword (``image:python:3.11-slim`` names the image
``python:3.11-slim``; ``limit:nvidia.com/gpu:1`` has resource ``nvidia.com/gpu``).
The same grammar is mirrored in the JupyterLab extension (``labextension/src/tags.ts``);
both are tested against ``tests/tag_vectors.json``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from .errors import TagError

STEP_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# An image reference: registry/path:tag@digest characters only (nothing a shell or
# Python string could misread).
_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z")
_RESOURCE_RE = re.compile(r"[a-z0-9]([a-z0-9.\-/]*[a-z0-9])?\Z")
# A Kubernetes quantity: 2Gi, 500m, 1, 0.5, 1e3.
_QUANTITY_RE = re.compile(r"[0-9]+(\.[0-9]+)?([eE][0-9]+|[KMGTPE]i|[kKMGTPE]|m)?\Z")
_DNS_RE = re.compile(r"[a-z0-9]([a-z0-9.\-]{0,251}[a-z0-9])?\Z")
_K8S_KEY_RE = re.compile(
    r"([A-Za-z0-9][A-Za-z0-9.\-]*/)?[A-Za-z0-9]([A-Za-z0-9._\-]{0,61}[A-Za-z0-9])?\Z"
)
_LABEL_VALUE_RE = re.compile(r"(([A-Za-z0-9][A-Za-z0-9._\-]{0,61})?[A-Za-z0-9])?\Z")
_SECRET_KEY_RE = re.compile(r"[A-Za-z0-9._\-]+\Z")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# The container identity fields ``kfp.kubernetes.set_security_context`` takes (and their kind).
SECURITY_FIELDS: dict[str, str] = {
    "run_as_user": "id",
    "run_as_group": "id",
    "run_as_non_root": "bool",
}
_MAX_ID = 2147483647  # Kubernetes' bound for runAsUser / runAsGroup

# keyword -> canonical kind
_ALIASES: dict[str, str] = {
    "step": "step",
    "block": "step",  # Kale 0.x
    "prev": "prev",
    "notebook": "notebook",  # Kale 2.3 composition: NAME.ipynb inlined as a sub-pipeline
    "skip": "skip",
    "imports": "imports",
    "functions": "functions",
    "pipeline-parameters": "pipeline-parameters",
    "parameters": "pipeline-parameters",  # papermill
    "injected-parameters": "injected-parameters",  # papermill's injected cell
    "pipeline-metrics": "pipeline-metrics",
    "image": "image",
    "limit": "limit",
    "request": "request",
    "cache": "cache",
    "retry": "retry",
    "timeout": "timeout",
    "env": "env",
    "secret": "secret",
    "configmap": "configmap",
    "security-context": "security-context",
    "annotation": "annotation",
    "label": "label",
    "volume": "volume",
    "node-selector": "node-selector",
    "toleration": "toleration",
    "report": "report",
}
KNOWN_TAGS: tuple[str, ...] = tuple(_ALIASES)
BARE_KINDS = frozenset(
    {
        "skip",
        "imports",
        "functions",
        "pipeline-parameters",
        "injected-parameters",
        "pipeline-metrics",
    }
)
SETTING_KINDS = frozenset(
    {
        "image",
        "limit",
        "request",
        "cache",
        "retry",
        "timeout",
        "env",
        "secret",
        "configmap",
        "security-context",
        "annotation",
        "label",
        "volume",
        "node-selector",
        "toleration",
        "report",
    }
)
# Usage line per keyword, used in error messages and the UI.
USAGE: dict[str, str] = {
    "step": "step:NAME",
    "block": "block:NAME",
    "prev": "prev:NAME",
    "notebook": "notebook:NAME",
    "image": "image:REF",
    "limit": "limit:RESOURCE:VALUE",
    "request": "request:RESOURCE:VALUE",
    "cache": "cache:enabled|disabled",
    "retry": "retry:N",
    "timeout": "timeout:SECONDS",
    "env": "env:NAME=VALUE",
    "secret": "secret:SECRET:KEY:ENV",
    "configmap": "configmap:CONFIG_MAP:KEY:ENV",
    "security-context": "security-context:run_as_user=UID:run_as_group=GID:run_as_non_root=true",
    "annotation": "annotation:KEY:VALUE",
    "label": "label:KEY:VALUE",
    "volume": "volume:PVC:MOUNT_PATH",
    "node-selector": "node-selector:KEY:VALUE",
    "toleration": "toleration:KEY:VALUE:EFFECT",
    "report": "report:enabled|disabled",
}


@dataclass(frozen=True)
class Tag:
    """A parsed tag. ``kind`` is canonical (``block`` -> ``step``), ``keyword`` as written."""

    kind: str
    keyword: str
    args: tuple[str, ...] = ()
    text: str = ""

    @property
    def name(self) -> str:
        """The step name of ``step:``/``prev:`` tags (``""`` for an empty ``step:``)."""
        return self.args[0] if self.args else ""

    @property
    def continues(self) -> bool:
        """An empty ``step:``/``block:`` tag: Kale treats the cell as untagged, so it
        continues the block above."""
        return self.kind == "step" and not self.args

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "keyword": self.keyword, "args": list(self.args)}


def is_valid_image(ref: str) -> bool:
    """An image reference made only of registry/path/tag/digest characters."""
    return isinstance(ref, str) and bool(_IMAGE_RE.match(ref))


def suggest(keyword: str) -> str | None:
    """The closest known keyword to a misspelt one, if any is close."""
    hits = difflib.get_close_matches(keyword.lower(), KNOWN_TAGS, n=1, cutoff=0.6)
    return hits[0] if hits else None


def _bad(text: str, why: str, keyword: str, kind: str = "bad-tag") -> TagError:
    usage = USAGE.get(keyword)
    return TagError(
        f"invalid tag {text!r}: {why}",
        kind=kind,
        tag=text,
        fix=f"write it as {usage}" if usage else None,
    )


def parse_tag(text: str) -> Tag:
    """Parse one tag; raise :class:`TagError` (kind ``unknown-tag``, ``bad-tag`` or
    ``invalid-step-name``) if it is not part of the grammar."""
    if not isinstance(text, str):
        raise TagError(f"a tag must be a string, got {type(text).__name__}", kind="bad-tag")
    keyword, sep, rest = text.partition(":")
    kind = _ALIASES.get(keyword)
    if kind is None:
        hint = suggest(keyword)
        raise TagError(
            f"unknown tag {text!r}",
            kind="unknown-tag",
            tag=text,
            fix=f"did you mean {hint!r}?" if hint else f"known tags: {', '.join(KNOWN_TAGS)}",
        )
    if kind in BARE_KINDS:
        if sep:
            raise _bad(text, f"{keyword!r} takes no value", keyword)
        return Tag(kind, keyword, (), text)
    if not sep:
        raise _bad(text, f"{keyword!r} needs a value", keyword)
    args = _PARSERS[kind](text, keyword, rest)
    return Tag(kind, keyword, args, text)


def _step_name(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    if rest == "" and keyword in ("step", "block"):
        return ()  # Kale's empty step tag: the cell continues the block above
    if not STEP_NAME_RE.match(rest):
        raise TagError(
            f"invalid step name {rest!r} in tag {text!r}: step names are lower-case letters,"
            " digits and underscores, not starting with a digit",
            kind="invalid-step-name",
            tag=text,
            fix=f"rename it, e.g. {keyword}:{_fix_name(rest)}",
        )
    return (rest,)


def _fix_name(name: str) -> str:
    fixed = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    fixed = fixed.lstrip("0123456789_")
    return fixed or "step"


def _image(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    if not _IMAGE_RE.match(rest):
        raise _bad(text, "not an image reference", keyword)
    return (rest,)


def _resource(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    resource, sep, value = rest.partition(":")
    if not sep or not _RESOURCE_RE.match(resource):
        raise _bad(text, "expected RESOURCE:VALUE (e.g. memory:2Gi, nvidia.com/gpu:1)", keyword)
    if not _QUANTITY_RE.match(value):
        raise _bad(text, f"{value!r} is not a Kubernetes quantity (e.g. 2Gi, 500m, 1)", keyword)
    return (resource, value)


def _switch(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    if rest not in ("enabled", "disabled"):
        raise _bad(text, "expected enabled or disabled", keyword)
    return (rest,)


def _count(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    if not (rest.isascii() and rest.isdigit()) or (rest != "0" and rest.startswith("0")):
        raise _bad(text, "expected a whole number", keyword)
    if keyword == "timeout" and int(rest) == 0:
        raise _bad(text, "the timeout must be at least 1 second", keyword)
    return (rest,)


def _env(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    name, sep, value = rest.partition("=")
    if not sep or not _ENV_NAME_RE.match(name):
        raise _bad(text, "expected NAME=VALUE with NAME an environment variable name", keyword)
    return (name, value)


def _secret(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    # configmap:CONFIG_MAP:KEY:ENV has the same shape (keys follow the same rules).
    what = "config map" if keyword == "configmap" else "secret"
    parts = rest.split(":")
    if len(parts) != 3:
        raise _bad(text, f"expected {what.upper().replace(' ', '_')}:KEY:ENV", keyword)
    name, key, env = parts
    if not _DNS_RE.match(name) or not _SECRET_KEY_RE.match(key) or not _ENV_NAME_RE.match(env):
        raise _bad(text, f"{what} name, key or environment variable name is not valid", keyword)
    return (name, key, env)


def _security_context(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    """``FIELD=VALUE`` items separated by colons (nbformat forbids commas in tags); args keep
    them as written."""
    items = rest.split(":")
    seen: set[str] = set()
    for item in items:
        field, sep, value = item.partition("=")
        kind = SECURITY_FIELDS.get(field)
        if not sep or kind is None:
            raise _bad(
                text,
                f"expected FIELD=VALUE with FIELD one of {', '.join(SECURITY_FIELDS)}",
                keyword,
            )
        if field in seen:
            raise _bad(text, f"{field} is given twice", keyword)
        seen.add(field)
        if kind == "bool" and value not in ("true", "false"):
            raise _bad(text, f"{field} must be true or false", keyword)
        if kind == "id" and (
            not (value.isascii() and value.isdigit()) or (value != "0" and value.startswith("0"))
        ):
            raise _bad(text, f"{field} must be a whole number", keyword)
        if kind == "id" and int(value) > _MAX_ID:
            raise _bad(text, f"{field} must be at most {_MAX_ID}", keyword)
    return tuple(items)


def security_context_values(items: tuple[tuple[str, str], ...]) -> dict[str, int | bool]:
    """Typed ``set_security_context`` arguments from ``(field, value)`` text pairs."""
    out: dict[str, int | bool] = {}
    for field, value in items:
        kind = SECURITY_FIELDS.get(field)
        if kind == "bool" and value in ("true", "false"):
            out[field] = value == "true"
        elif kind == "id" and value.isascii() and value.isdigit():
            out[field] = int(value)
        else:
            raise TagError(
                f"invalid security context {field}={value!r}",
                kind="bad-tag",
                tag=f"security-context:{field}={value}",
                fix=f"write it as {USAGE['security-context']}",
            )
    return out


def _key_value(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    key, sep, value = rest.partition(":")
    if not sep or not _K8S_KEY_RE.match(key):
        raise _bad(text, "expected KEY:VALUE with a Kubernetes key", keyword)
    if keyword != "annotation" and not _LABEL_VALUE_RE.match(value):
        raise _bad(text, f"{value!r} is not a valid Kubernetes label value", keyword)
    return (key, value)


def _volume(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    pvc, sep, mount = rest.partition(":")
    if not sep or not _DNS_RE.match(pvc):
        raise _bad(text, "expected PVC:MOUNT_PATH with a PVC name", keyword)
    if not mount.startswith("/") or any(c in mount for c in "\0\n\r:"):
        raise _bad(text, "the mount path must be an absolute path", keyword)
    return (pvc, mount)


def _toleration(text: str, keyword: str, rest: str) -> tuple[str, ...]:
    key, sep, tail = rest.partition(":")
    value, sep2, effect = tail.rpartition(":")
    if not sep or not sep2 or not _K8S_KEY_RE.match(key):
        raise _bad(text, "expected KEY:VALUE:EFFECT", keyword)
    if not _LABEL_VALUE_RE.match(value):
        raise _bad(text, f"{value!r} is not a valid toleration value", keyword)
    if effect not in _EFFECTS:
        raise _bad(text, f"effect must be one of {', '.join(_EFFECTS)}", keyword)
    return (key, value, effect)


_PARSERS = {
    "step": _step_name,
    "prev": _step_name,
    "notebook": _step_name,
    "image": _image,
    "limit": _resource,
    "request": _resource,
    "cache": _switch,
    "report": _switch,
    "retry": _count,
    "timeout": _count,
    "env": _env,
    "secret": _secret,
    "configmap": _secret,
    "security-context": _security_context,
    "annotation": _key_value,
    "label": _key_value,
    "node-selector": _key_value,
    "volume": _volume,
    "toleration": _toleration,
}


def format_tag(tag: Tag) -> str:
    """The text of a tag; ``format_tag(parse_tag(t)) == t`` for every valid ``t``."""
    if not tag.args:
        return f"{tag.keyword}:" if tag.kind == "step" else tag.keyword
    if tag.kind == "env":
        return f"{tag.keyword}:{tag.args[0]}={tag.args[1]}"
    return f"{tag.keyword}:" + ":".join(tag.args)


def make_tag(kind: str, *args: str) -> Tag:
    """Build a tag from its parts (validated by a round trip through the parser)."""
    keyword = kind
    text = format_tag(Tag(kind, keyword, tuple(args)))
    return parse_tag(text)
