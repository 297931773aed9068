"""Step settings -> KFP task method calls (``task.set_cpu_limit(...)``, ``kubernetes.*``).

Each function returns source lines for one task; values are quoted with ``repr`` only.
A setting KFP cannot express is refused with a :class:`~kale_like.errors.TagError` rather
than silently dropped.
"""

from __future__ import annotations

from ..errors import TagError
from ..model import StepSettings
from ..tags import security_context_values

CPU_MEMORY = ("cpu", "memory")


def is_accelerator(resource: str) -> bool:
    """GPU-like resources (``nvidia.com/gpu``, ``amd.com/gpu``, ``gpu``) map to accelerators."""
    return "gpu" in resource.lower() or "/" in resource


def uses_kubernetes(settings: StepSettings) -> bool:
    """Whether the task needs ``kfp.kubernetes`` (platform-specific settings)."""
    return bool(
        settings.node_selector
        or settings.secrets
        or settings.config_maps
        or settings.security_context
        or settings.volumes
        or settings.labels
        or settings.annotations
        or settings.tolerations
        or settings.timeout is not None
    )


def settings_lines(task: str, step_name: str, settings: StepSettings) -> list[str]:
    """Source lines (without indentation) applying ``settings`` to the task variable."""
    lines: list[str] = []
    limits = dict(settings.limits)
    requests = dict(settings.requests)
    for kind, pairs in (("limit", settings.limits), ("request", settings.requests)):
        for resource, value in pairs:
            if resource in CPU_MEMORY:
                lines.append(f"{task}.set_{resource}_{kind}({value!r})")
            elif not is_accelerator(resource):
                raise TagError(
                    f"step {step_name!r}: KFP cannot set the resource {resource!r}",
                    kind="unsupported-resource",
                    tag=f"{kind}:{resource}:{value}",
                    fix="use cpu, memory or a GPU resource such as nvidia.com/gpu",
                )
    # Kubernetes requires an accelerator's request to equal its limit, and KFP sets only the
    # limit: take the limit, or the request when no limit is given.
    accelerators = dict(requests)
    accelerators.update(limits)
    for resource, value in accelerators.items():
        if resource in CPU_MEMORY:
            continue
        lines.append(f"{task}.set_accelerator_type({resource!r})")
        lines.append(f"{task}.set_accelerator_limit({value!r})")
    for name, value in settings.env:
        lines.append(f"{task}.set_env_variable(name={name!r}, value={value!r})")
    if settings.cache is not None:
        lines.append(f"{task}.set_caching_options(enable_caching={settings.cache!r})")
    if settings.retries is not None:
        lines.append(f"{task}.set_retry(num_retries={int(settings.retries)!r})")
    lines.extend(_kubernetes_lines(task, settings))
    return lines


def _kubernetes_lines(task: str, settings: StepSettings) -> list[str]:
    lines: list[str] = []
    if settings.timeout is not None:
        lines.append(f"kubernetes.set_timeout({task}, seconds={int(settings.timeout)!r})")
    for key, value in settings.node_selector:
        lines.append(
            f"kubernetes.add_node_selector({task}, label_key={key!r}, label_value={value!r})"
        )
    # Secrets travel by reference: only the secret's name and key appear, never a value.
    for secret, mapping in _by_name(settings.secrets):
        lines.append(
            f"kubernetes.use_secret_as_env({task}, secret_name={secret!r}, "
            f"secret_key_to_env={mapping!r})"
        )
    for config_map, mapping in _by_name(settings.config_maps):
        lines.append(
            f"kubernetes.use_config_map_as_env({task}, config_map_name={config_map!r}, "
            f"config_map_key_to_env={mapping!r})"
        )
    if settings.security_context:
        # Typed values only (ints and bools): anything else is refused, not quoted.
        values = security_context_values(settings.security_context)
        fields = "".join(f", {field}={value!r}" for field, value in values.items())
        lines.append(f"kubernetes.set_security_context({task}{fields})")
    for pvc, mount_path in settings.volumes:
        lines.append(f"kubernetes.mount_pvc({task}, pvc_name={pvc!r}, mount_path={mount_path!r})")
    for key, value in settings.labels:
        lines.append(f"kubernetes.add_pod_label({task}, label_key={key!r}, label_value={value!r})")
    for key, value in settings.annotations:
        lines.append(
            f"kubernetes.add_pod_annotation({task}, annotation_key={key!r}, "
            f"annotation_value={value!r})"
        )
    for key, middle, effect in settings.tolerations:
        args = [f"key={key!r}"] if key else []
        # The IR keeps (key, operator-or-value, effect): "Exists"/"" mean operator Exists.
        if middle in ("", "Exists"):
            args.append("operator='Exists'")
        else:
            args.append(f"operator='Equal', value={middle!r}")
        if effect:
            args.append(f"effect={effect!r}")
        lines.append(f"kubernetes.add_toleration({task}, {', '.join(args)})")
    return lines


def _by_name(refs: tuple[tuple[str, str, str], ...]) -> list[tuple[str, dict[str, str]]]:
    """``(name, key, ENV)`` references grouped into ``{key: ENV}`` maps per secret/config map;
    a key read into a second variable starts another map (a dict holds each key once)."""
    groups: list[tuple[str, dict[str, str]]] = []
    for name, key, env in refs:
        target = next((m for n, m in groups if n == name and key not in m), None)
        if target is None:
            target = {}
            groups.append((name, target))
        target[key] = env
    return groups
