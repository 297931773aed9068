"""Step settings from setting tags, ``steps_defaults``, ``security_context`` and ``volumes``.

Tags of several cells of one step merge; the same value twice is fine, two different
values for one setting raise ``conflicting-settings`` naming both tags. A
``security-context:`` tag sets each of its fields separately (so a step can override
``run_as_user`` and keep the notebook's ``run_as_non_root``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import TagError
from ..model import StepSettings
from ..tags import SECURITY_FIELDS, SETTING_KINDS, Tag, parse_tag

# kind -> (StepSettings field, number of args forming the key; 0 = single value)
_FIELDS: dict[str, tuple[str, int]] = {
    "image": ("image", 0),
    "cache": ("cache", 0),
    "retry": ("retries", 0),
    "timeout": ("timeout", 0),
    "report": ("report", 0),
    "limit": ("limits", 1),
    "request": ("requests", 1),
    "env": ("env", 1),
    "annotation": ("annotations", 1),
    "label": ("labels", 1),
    "node-selector": ("node_selector", 1),
    "secret": ("secrets", 3),  # keyed by the ENV name (last arg)
    "configmap": ("config_maps", 3),  # keyed by the ENV name (last arg)
    "security-context": ("security_context", 1),  # keyed by the field (one per tag item)
    "volume": ("volumes", 2),  # keyed by the mount path (last arg)
    "toleration": ("tolerations", 3),  # whole tuple: several tolerations are fine
}


def _value(tag: Tag) -> Any:
    if tag.kind in ("cache", "report"):
        return tag.args[0] == "enabled"
    if tag.kind in ("retry", "timeout"):
        return int(tag.args[0])
    return tag.args[0]


def _key(tag: Tag) -> tuple[str, str]:
    _, n = _FIELDS[tag.kind]
    if tag.kind == "security-context":
        return (tag.kind, tag.args[0].partition("=")[0])
    if n == 0:
        return (tag.kind, "")
    if n == 1:
        return (tag.kind, tag.args[0])
    if tag.kind == "toleration":
        return (tag.kind, "\0".join(tag.args))
    return (tag.kind, tag.args[-1])


def _items(tag: Tag) -> list[Tag]:
    """One tag per setting: a ``security-context:`` tag holds one per field."""
    if tag.kind == "security-context" and len(tag.args) > 1:
        return [Tag(tag.kind, tag.keyword, (item,), tag.text) for item in tag.args]
    return [tag]


def merge_settings(
    tagged: Iterable[tuple[Tag, int | None]],
    defaults: Iterable[Tag] = (),
    volumes: Iterable[tuple[str, str]] = (),
    path: str | None = None,
) -> StepSettings:
    """Settings of one step from its ``(tag, cell)`` pairs, then defaults where unset."""
    seen: dict[tuple[str, str], tuple[Tag, int | None]] = {}
    for whole, cell in tagged:
        if whole.kind not in SETTING_KINDS:
            continue
        for tag in _items(whole):
            _add(seen, tag, cell, path)
    for whole in defaults:
        if whole.kind in SETTING_KINDS:
            for tag in _items(whole):
                seen.setdefault(_key(tag), (tag, None))
    fields: dict[str, Any] = {}
    pairs: dict[str, list[tuple[str, ...]]] = {}
    for tag, _ in seen.values():
        name, n = _FIELDS[tag.kind]
        if n == 0:
            fields[name] = _value(tag)
        elif tag.kind == "security-context":
            field, _, value = tag.args[0].partition("=")
            pairs.setdefault(name, []).append((field, value))
        else:
            pairs.setdefault(name, []).append(tag.args)
    order = list(SECURITY_FIELDS)
    pairs.get("security_context", []).sort(key=lambda item: order.index(item[0]))
    mounts = {m for _, m in pairs.get("volumes", [])}
    for pvc, mount in volumes:
        if mount not in mounts:
            pairs.setdefault("volumes", []).append((pvc, mount))
            mounts.add(mount)
    for name, items in pairs.items():
        fields[name] = tuple(items)
    return replace(StepSettings(), **fields)


def _add(
    seen: dict[tuple[str, str], tuple[Tag, int | None]],
    tag: Tag,
    cell: int | None,
    path: str | None,
) -> None:
    """Record one step tag; a different value for a setting already set is a conflict."""
    key = _key(tag)
    if key not in seen:
        seen[key] = (tag, cell)
        return
    old, old_cell = seen[key]
    if old.args != tag.args:
        where = f"cell {old_cell}" if old_cell == cell else f"cells {old_cell} and {cell}"
        raise TagError(
            f"conflicting settings in {where}: {old.text!r} and {tag.text!r}",
            kind="conflicting-settings",
            cell=cell,
            tag=tag.text,
            path=path,
            fix="keep one of the two tags",
        )


def step_defaults(metadata: dict[str, Any], path: str | None = None) -> list[Tag]:
    """Kale's ``kubeflow_notebook.steps_defaults``: setting tags applied to every step."""
    raw = metadata.get("steps_defaults") or []
    if isinstance(raw, dict):  # tolerate {"limit:memory": "1Gi"}-style maps
        raw = [f"{k}:{v}" for k, v in raw.items()]
    if not isinstance(raw, list):
        raise TagError(
            f"kubeflow_notebook.steps_defaults must be a list of setting tags, got {raw!r}",
            kind="bad-tag",
            path=path,
            fix='write e.g. ["limit:memory:1Gi", "image:python:3.11-slim"]',
        )
    tags: list[Tag] = []
    for text in raw:
        try:
            tag = parse_tag(str(text))
        except TagError as err:
            err.message = f"kubeflow_notebook.steps_defaults: {err.message}"
            err.path = path
            raise
        tags.append(tag)
    sc = security_context_default(metadata, path)
    return tags + ([sc] if sc else [])


def security_context_default(metadata: dict[str, Any], path: str | None = None) -> Tag | None:
    """``kubeflow_notebook.security_context`` (``{"run_as_user": 1000, ...}``) as the
    ``security-context:`` tag every step gets unless its own tags set the field."""
    raw = metadata.get("security_context")
    if raw is None or raw == {}:
        return None
    where = "kubeflow_notebook.security_context"
    if not isinstance(raw, dict):
        raise TagError(
            f'{where} must be an object such as {{"run_as_user": 1000}}',
            kind="bad-tag",
            path=path,
            fix='write e.g. {"run_as_user": 1000, "run_as_non_root": true}',
        )
    items = []
    for field, value in raw.items():
        # JSON true/false -> "true"/"false"; ints as digits; anything else fails to parse.
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        items.append(f"{field}={text}")
    try:
        return parse_tag("security-context:" + ":".join(items))
    except TagError as err:
        err.message = f"{where}: {err.message}"
        err.path = path
        raise


def notebook_volumes(metadata: dict[str, Any], diags: list[Diagnostic]) -> list[tuple[str, str]]:
    """Kale's ``kubeflow_notebook.volumes`` -> [(pvc, mount path)] of existing PVCs."""
    out: list[tuple[str, str]] = []
    raw = metadata.get("volumes") or []
    if not isinstance(raw, list):
        raw = [raw]  # each non-volume entry below becomes a warning, never silence
    for vol in raw:
        if isinstance(vol, str):
            try:
                tag = parse_tag(vol if vol.startswith("volume:") else f"volume:{vol}")
            except TagError as err:
                diags.append(Diagnostic("warning", "unsupported-volume", err.message))
                continue
            out.append((tag.args[0], tag.args[1]))
            continue
        if not isinstance(vol, dict):
            diags.append(
                Diagnostic(
                    "warning",
                    "unsupported-volume",
                    f"kubeflow_notebook.volumes entry {vol!r} is ignored: not a volume",
                    fix='list volumes as {"name": PVC, "mount_point": PATH, "type": "pvc"}',
                )
            )
            continue
        name = vol.get("name") or vol.get("pvc")
        mount = vol.get("mount_point") or vol.get("mount_path")
        kind = vol.get("type", "pvc")
        if kind != "pvc" or not name or not mount:
            diags.append(
                Diagnostic(
                    "warning",
                    "unsupported-volume",
                    f"notebook volume {name or '?'!r} of type {kind!r} is ignored: only existing"
                    " PVCs can be mounted",
                    fix="create the PVC first and list it with type 'pvc'",
                )
            )
            continue
        try:
            tag = parse_tag(f"volume:{name}:{mount}")
        except TagError as err:
            diags.append(Diagnostic("warning", "unsupported-volume", err.message))
            continue
        out.append((tag.args[0], tag.args[1]))
    return out
