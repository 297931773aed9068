"""Kale's notebook volumes: ``kubeflow_notebook.volumes`` checked and mounted, and the
``KALE_VOLUME_<NAME>`` variables of those with ``expose_as_env_var``.

Volumes of kinds kale_like does not mount (Rok clones, ``new_pvc``, ``pv``) get a diagnostic
saying why; an entry that is no volume, or a pvc entry without a valid name or mount point,
is refused (``bad-metadata``).
"""

from __future__ import annotations

import re
from typing import Any

from ..diagnostics import Diagnostic
from ..errors import InputError, TagError
from ..notebook_metadata import ignored_field
from ..tags import parse_tag


def kale_volume_env(pvc: str) -> str:
    """Kale's ``KALE_VOLUME_<NAME>`` variable of a volume with ``expose_as_env_var``."""
    return "KALE_VOLUME_" + re.sub(r"[^A-Z0-9]", "_", pvc.upper())


def volume_env_texts(metadata: dict[str, Any], path: str | None) -> list[str]:
    """``env:KALE_VOLUME_<NAME>=MOUNT`` for each mounted volume with ``expose_as_env_var``."""
    raw = metadata.get("volumes")
    owners: dict[str, str] = {}
    texts = []
    for vol in raw if isinstance(raw, list) else []:
        if not (isinstance(vol, dict) and vol.get("expose_as_env_var") is True):
            continue
        mounted = _pvc_mount(vol)
        if mounted is None:
            continue
        env = kale_volume_env(mounted[0])
        if env in owners and owners[env] != mounted[0]:
            raise InputError(
                f"notebook volumes {owners[env]!r} and {mounted[0]!r} both expose their mount"
                f" path as {env}",
                kind="bad-metadata",
                path=path,
                fix="set expose_as_env_var to false on one of them",
            )
        owners[env] = mounted[0]
        texts.append(f"env:{env}={mounted[1]}")
    return texts


# Volume types Kale writes that kale_like does not mount -> (severity, kind, why).
_VOLUME_TYPES = {
    "clone": (
        "info",
        "unsupported-metadata",
        "Rok-only: Kale clones the notebook server's volume with Rok; kale_like hands"
        " variables and files between steps as artifacts instead",
        "to mount data on a cluster, list an existing PVC with type 'pvc'",
    ),
    "new_pvc": (
        "warning",
        "unsupported-volume",
        "kale_like does not create volumes, so steps will not find it",
        "create the PVC first and list it with type 'pvc'",
    ),
    "pv": (
        "warning",
        "unsupported-volume",
        "only existing PVCs can be mounted",
        "create a PVC bound to the volume and list it with type 'pvc'",
    ),
}
# Volume fields that act only through Rok snapshots.
_VOLUME_ROK_FIELDS = {
    "snapshot": "Rok-only: Kale snapshots the volume with Rok before a run",
    "snapshot_name": "Rok-only: the name of the volume's Rok snapshot",
}


_VOLUME_FIX = 'write it as {"name": PVC, "mount_point": "/absolute/path", "type": "pvc"}'


def _pvc_mount(vol: dict[str, Any]) -> tuple[str, str] | None:
    """(pvc, mount path) of a Kale volume object of type pvc, if it names both validly."""
    try:
        return _checked_pvc(vol, "")
    except InputError:
        return None


def _checked_pvc(vol: dict[str, Any], where: str, path: str | None = None) -> tuple[str, str]:
    """(pvc, mount path) of a Kale ``pvc`` volume object; ``bad-metadata`` naming the entry
    ``where`` when it lacks a name or mount point or either is invalid."""
    name = vol.get("name") or vol.get("pvc")
    mount = vol.get("mount_point") or vol.get("mount_path")
    why = None
    if not isinstance(name, str):
        why = "it has no PVC name (name)"
    elif not isinstance(mount, str):
        why = "it has no mount point (mount_point)"
    else:
        try:
            tag = parse_tag(f"volume:{name}:{mount}")
        except TagError as err:
            why = err.message.partition(": ")[2] or err.message
        else:
            return tag.args[0], tag.args[1]
    raise InputError(
        f"notebook metadata {where} {_shown(vol)} is not a volume kale_like can mount: {why}",
        kind="bad-metadata",
        path=path,
        fix=f"{_VOLUME_FIX} (a PVC that exists), or remove the entry",
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def notebook_volumes(
    metadata: dict[str, Any], diags: list[Diagnostic], path: str | None = None
) -> list[tuple[str, str]]:
    """Kale's ``kubeflow_notebook.volumes`` -> [(pvc, mount path)] of existing PVCs. Kale's
    kinds kale_like does not mount get a diagnostic saying why (Rok clones: info; new_pvc,
    pv: warnings); an entry that is no volume at all, or a pvc entry without a valid name
    or mount point, is refused (``bad-metadata``), as the same ``volume:`` tag on a cell."""
    out: list[tuple[str, str]] = []
    raw = metadata.get("volumes") or []
    if not isinstance(raw, list):
        raw = [raw]  # a lone entry is checked like a list's
    for i, vol in enumerate(raw):
        where = f"kubeflow_notebook.volumes[{i}]"
        if isinstance(vol, str):
            try:
                tag = parse_tag(vol if vol.startswith("volume:") else f"volume:{vol}")
            except TagError as err:
                raise InputError(
                    f"notebook metadata {where} {_shown(vol)}: {err.message}",
                    kind="bad-metadata",
                    path=path,
                    fix=f'write it as "PVC:/absolute/path", or {_VOLUME_FIX}',
                ) from None
            out.append((tag.args[0], tag.args[1]))
            continue
        if not isinstance(vol, dict):
            raise InputError(
                f"notebook metadata {where} {_shown(vol)} is not a volume",
                kind="bad-metadata",
                path=path,
                fix=f"{_VOLUME_FIX}, or remove the entry",
            )
        name = vol.get("name") or vol.get("pvc")
        kind = vol.get("type", "pvc")
        for field, why in _VOLUME_ROK_FIELDS.items():
            if vol.get(field):
                diags.append(ignored_field(f"volumes[{i}].{field}", vol[field], why))
        if kind in _VOLUME_TYPES:
            severity, diag_kind, why, fix = _VOLUME_TYPES[kind]
            diags.append(
                Diagnostic(
                    severity,  # type: ignore[arg-type]
                    diag_kind,
                    f"notebook metadata {where} ({name or '?'!r}, type {kind!r}) is ignored: {why}",
                    fix=fix,
                )
            )
            continue
        if kind != "pvc":
            raise InputError(
                f"notebook metadata {where} has type {kind!r}; Kale's volume types are pvc,"
                f" {', '.join(_VOLUME_TYPES)}",
                kind="bad-metadata",
                path=path,
                fix=f"{_VOLUME_FIX}, or remove the entry",
            )
        out.append(_checked_pvc(vol, where, path))
    return out
