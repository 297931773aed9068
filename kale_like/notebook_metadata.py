"""Kale's pipeline settings in ``metadata.kubeflow_notebook``: every field Kale 0.7 and 2.3
write, what kale_like does with each, and typed access to the ones the pipeline needs.

Pure. :func:`check_metadata` returns diagnostics — an unknown field is a warning with a
did-you-mean, a field kale_like knows but does not act on (Rok snapshots, Kale's own
folders, ``katib_run``) is one info naming it and why, an optional field of the wrong type
is a warning — and raises :class:`~kale_like.errors.InputError` (kind ``bad-metadata``)
when a field the pipeline needs has the wrong type. A field set to a value that does
nothing in Kale either (``false``, ``""``, Kale's default) is not reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .diagnostics import Diagnostic
from .errors import InputError

PREFIX = "kubeflow_notebook"

# Fields kale_like acts on -> what they do (for messages and the README).
USED: dict[str, str] = {
    "pipeline_name": "the pipeline's name",
    "pipeline_description": "the pipeline's description",
    "experiment_name": "the KFP experiment runs go to",
    "experiment": "Kale's {id, name} experiment (the name is used when experiment_name is empty)",
    "base_image": "the image every step starts from",
    "docker_image": "Kale 0.x name of base_image",
    "enable_caching": "the caching default of every step (a step's cache: tag wins)",
    "timeout": "every step's timeout in seconds (a step's timeout: tag wins)",
    "steps_defaults": "setting tags applied to every step",
    "volumes": "existing PVCs mounted into every step",
    "security_context": "the security context of every step",
    "katib_metadata": "the search space and objective of `kale-like sweep`",
    "kfp_host": "the KFP endpoint of deploy/run --engine kfp",
    "namespace": "the Kubernetes namespace of deploy (kale_like)",
    "registry": "the image registry of the pipeline panel (kale_like)",
    "requirements": "extra pip requirements of the step images (kale_like)",
    "enabled": "whether the panel treats the notebook as a pipeline (kale_like)",
}

# Fields kale_like knows and ignores -> why (reported when set to a value that acts in Kale).
IGNORED: dict[str, str] = {
    "autosnapshot": "Rok-only: Kale snapshots the workspace with Rok before and after steps;"
    " kale_like hands variables and files between steps as artifacts instead",
    "snapshot_volumes": "Rok-only: Kale snapshots the notebook's volumes with Rok before a run;"
    " kale_like hands variables and files between steps as artifacts instead",
    "storage_class_name": "Kale uses it only for volumes it creates (new_pvc, Rok clones),"
    " which kale_like does not create",
    "volume_access_mode": "Kale uses it only for volumes it creates (new_pvc, Rok clones),"
    " which kale_like does not create",
    "katib_run": "kale_like never starts Katib on compile or deploy; start the sweep with"
    " `kale-like sweep NOTEBOOK --engine katib`",
    "marshal_path": "Kale's folder for data passed between steps; kale_like passes"
    " variables as KFP artifacts",
    "marshal_volume": "Kale 0.x mounts a volume for data passed between steps; kale_like"
    " passes variables as KFP artifacts",
    "abs_working_dir": "Kale's working folder inside the step pods; kale_like runs each step"
    " in its own working folder",
    "output_path": "Kale's folder for compiled files; use `kale-like compile NOTEBOOK -o DIR`",
    "notebook_path": "kale_like reads the notebook it is given",
}

KNOWN: tuple[str, ...] = tuple(sorted({*USED, *IGNORED}))

# Kale's defaults: a field left at its default changes nothing, so it is not reported.
_KALE_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "marshal_path": ("/tmp/marshal", "/marshal"),
    "marshal_volume": (True,),
    "volume_access_mode": ("rwm",),
}

# Fields the pipeline needs: a wrong type is an error, not a warning.
_NEEDED_STR = ("pipeline_name", "base_image", "docker_image")
# Optional fields: a wrong type is a warning and the field is dropped (see usable()).
_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "experiment_name": (str,),
    "pipeline_description": (str,),
    "experiment": (dict,),
    "katib_metadata": (dict,),
    "kfp_host": (str,),
    "namespace": (str,),
    "registry": (str,),
    "enabled": (bool,),
}
_TYPE_WORDS = {dict: "an object", str: "a string", bool: "true or false", list: "a list"}
_EDIT = "JupyterLab: Property Inspector > Advanced Tools > Notebook metadata"


def _bad(field: str, what: str, value: Any, example: str) -> InputError:
    return InputError(
        f"notebook metadata {PREFIX}.{field} must be {what}, got {value!r}",
        kind="bad-metadata",
        fix=f'set e.g. "{field}": {example}, or remove it ({_EDIT})',
    )


def enable_caching(meta: Mapping[str, Any]) -> bool | None:
    """``enable_caching`` (``None`` when unset); anything but a JSON boolean is refused."""
    value = meta.get("enable_caching")
    if value is None or isinstance(value, bool):
        return value
    raise _bad("enable_caching", "true or false", value, "false")


def pipeline_timeout(meta: Mapping[str, Any]) -> int | None:
    """``timeout`` in seconds (``None`` when unset); a positive whole number or an error."""
    value = meta.get("timeout")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise _bad("timeout", "a positive whole number of seconds", value, "3600")


def check_metadata(meta: Mapping[str, Any]) -> list[Diagnostic]:
    """Diagnostics for the ``kubeflow_notebook`` object ``meta``; raises ``bad-metadata``
    for a wrong-typed field the pipeline needs (the first one, in the notebook's order)."""
    diags: list[Diagnostic] = []
    for field in _NEEDED_STR:
        value = meta.get(field)
        if value is not None and not isinstance(value, str):
            raise _bad(field, "a string", value, '"..."')
    enable_caching(meta)
    timeout = pipeline_timeout(meta)
    for field, value in meta.items():
        if value is None:
            continue
        if field in IGNORED:
            if value not in (False, "", [], {}) and value not in _KALE_DEFAULTS.get(field, ()):
                diags.append(ignored_field(field, value, IGNORED[field]))
        elif field in _OPTIONAL_TYPES:
            types = _OPTIONAL_TYPES[field]
            if not isinstance(value, types):
                diags.append(
                    Diagnostic(
                        "warning",
                        "ignored-metadata",
                        f"notebook metadata {PREFIX}.{field} is ignored: {value!r} is not"
                        f" {_TYPE_WORDS[types[0]]}",
                        fix=f"set it to {_TYPE_WORDS[types[0]]}, or remove it ({_EDIT})",
                    )
                )
        elif field not in USED:
            diags.append(_unknown(str(field)))
    if timeout is not None:
        diags.append(
            Diagnostic(
                "info",
                "pipeline-timeout",
                f"{PREFIX}.timeout = {timeout} s becomes the timeout of every step without its"
                " own timeout: tag (Kale 0.7 limited the whole run; KFP v2 has no run deadline"
                " and Kale 2.3 ignores the field)",
            )
        )
    return diags


def usable(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` without the optional fields whose type is wrong (each warned about by
    :func:`check_metadata`), so no later stage reads a value the user was told is ignored."""
    return {
        k: v
        for k, v in meta.items()
        if k not in _OPTIONAL_TYPES or v is None or isinstance(v, _OPTIONAL_TYPES[k])
    }


def ignored_field(field: str, value: Any, why: str) -> Diagnostic:
    """The one info diagnostic of a known field kale_like does not act on."""
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return Diagnostic(
        "info",
        "unsupported-metadata",
        f"notebook metadata {PREFIX}.{field} = {shown} is ignored: {why}",
    )


def _unknown(field: str) -> Diagnostic:
    close = difflib.get_close_matches(field, KNOWN, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = f"the known fields are {', '.join(KNOWN)}"
    fix = f"rename it to {close[0]!r}" if close else f"remove it ({known})"
    if close:
        fix += f" ({known})"
    return Diagnostic(
        "warning",
        "unknown-metadata",
        f"unknown notebook metadata field {PREFIX}.{field} is ignored{hint}",
        fix=fix,
    )
