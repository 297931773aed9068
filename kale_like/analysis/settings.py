"""Step settings from setting tags, ``steps_defaults`` and ``security_context``.

Tags of several cells of one step merge; the same value twice is fine, two different
values for one setting raise ``conflicting-settings`` naming both tags. A
``security-context:`` tag sets each of its fields separately (so a step can override
``run_as_user`` and keep the notebook's ``run_as_non_root``). The notebook's volumes are
read in :mod:`~kale_like.analysis.volumes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..errors import InputError, TagError, cell_label, cell_number
from ..model import StepSettings
from ..notebook_metadata import enable_caching, pipeline_timeout
from ..tags import SECURITY_FIELDS, SETTING_KINDS, Tag, parse_tag
from .volumes import volume_env_texts

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


def _where(cell: int | None) -> str:
    """A setting tag's place: its cell, or the notebook metadata (``steps_defaults``)."""
    return cell_label(cell) if cell is not None else "the notebook metadata"


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
        if old_cell == cell:
            where = _where(cell)
        elif old_cell is not None and cell is not None:
            where = f"cells {cell_number(old_cell)} and {cell_number(cell)}"
        else:
            where = f"{_where(old_cell)} and {_where(cell)}"
        raise TagError(
            f"conflicting settings in {where}: {old.text!r} and {tag.text!r}",
            kind="conflicting-settings",
            cell=cell,
            tag=tag.text,
            path=path,
            fix="keep one of the two tags",
        )


def step_defaults(metadata: dict[str, Any], path: str | None = None) -> list[Tag]:
    """Setting tags every step gets unless its own tags set the same setting, in order of
    precedence: ``steps_defaults``, ``security_context``, the ``KALE_VOLUME_*`` variables of
    volumes with ``expose_as_env_var``, then ``enable_caching`` and ``timeout`` (Kale: a
    step's ``cache:`` tag or ``steps_defaults`` wins over ``enable_caching``)."""
    tags = [_default_tag(text, path) for text in _defaults_texts(metadata, path)]
    sc = security_context_default(metadata, path)
    if sc:
        tags.append(sc)
    tags += [_default_tag(text, path) for text in volume_env_texts(metadata, path)]
    try:
        caching = enable_caching(metadata)
        timeout = pipeline_timeout(metadata)
    except InputError as err:
        err.path = path
        raise
    if caching is not None:
        tags.append(parse_tag("cache:" + ("enabled" if caching else "disabled")))
    if timeout is not None:
        tags.append(parse_tag(f"timeout:{timeout}"))
    return tags


def _default_tag(text: str, path: str | None) -> Tag:
    """One ``steps_defaults`` tag: refused as on a cell (the parser's fix), and refused
    when it is no setting (``prev:``, ``skip``... act on cells, never on every step)."""
    where = "kubeflow_notebook.steps_defaults"
    try:
        tag = parse_tag(text)
    except TagError as err:
        err.message = f"{where}: {err.message}"
        err.path = path
        raise
    if tag.kind not in SETTING_KINDS:
        raise TagError(
            f"{where}: {text!r} is not a step setting, so it cannot apply to every step",
            kind="bad-tag",
            tag=text,
            path=path,
            fix=f"remove {text!r} from {where} (it holds setting tags such as"
            " limit:memory:1Gi or image:REF) and tag the cells that need it",
        )
    return tag


# Kale's parsed ``steps_defaults`` object (the shape ``NotebookConfig`` stores): key -> tag.
_KALE_MAPS = {"labels": "label", "annotations": "annotation", "limits": "limit"}
_KALE_SWITCHES = {"enable_caching": "cache", "generate_html_report": "report"}
_KALE_COUNTS = {"retry_count": "retry", "timeout": "timeout"}


def _defaults_texts(metadata: dict[str, Any], path: str | None) -> list[str]:
    """``steps_defaults`` as tag texts: Kale's list of tags, or Kale's parsed object
    (``{"labels": {...}, "limits": {...}, "secrets": {...}, "base_image": ...}``)."""
    raw = metadata.get("steps_defaults") or []
    if isinstance(raw, list):
        return [str(text) for text in raw]
    if not isinstance(raw, dict):
        raise TagError(
            f"kubeflow_notebook.steps_defaults must be a list of setting tags, got {raw!r}",
            kind="bad-tag",
            path=path,
            fix='write e.g. ["limit:memory:1Gi", "image:python:3.11-slim"]',
        )
    texts: list[str] = []
    for key, value in raw.items():
        key = str(key)
        if ":" in key:  # {"limit:memory": "1Gi"}: the tag up to its value
            texts.append(f"{key}:{value}")
        elif key in _KALE_MAPS and isinstance(value, dict):
            texts += [f"{_KALE_MAPS[key]}:{k}:{v}" for k, v in value.items()]
        elif key == "secrets" and isinstance(value, dict):
            for env, ref in value.items():
                ref = ref if isinstance(ref, dict) else {}
                texts.append(
                    f"secret:{ref.get('secret_name', '')}:{ref.get('secret_key', '')}:{env}"
                )
        elif key == "base_image" and isinstance(value, str):
            if value:
                texts.append(f"image:{value}")
        elif key in _KALE_SWITCHES and isinstance(value, bool):
            texts.append(f"{_KALE_SWITCHES[key]}:{'enabled' if value else 'disabled'}")
        elif key in _KALE_COUNTS and isinstance(value, int) and not isinstance(value, bool):
            texts.append(f"{_KALE_COUNTS[key]}:{value}")
        else:
            known = [*_KALE_MAPS, "secrets", "base_image", *_KALE_SWITCHES, *_KALE_COUNTS]
            raise TagError(
                f"kubeflow_notebook.steps_defaults: {key!r}: {value!r} is not a step setting",
                kind="bad-tag",
                path=path,
                fix='list setting tags instead, e.g. ["limit:memory:1Gi"], or use one of'
                f" Kale's keys: {', '.join(known)}",
            )
    return texts


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
