"""Where to find Kubeflow Pipelines and how to authenticate: config resolution. Pure but for reads.

Each setting is taken from the first source that has it, in this order:

1. flags (``--host``, ``--namespace``, ``--experiment``, ``--token-file``),
2. notebook metadata ``kubeflow_notebook`` (``kfp_host``, ``namespace``, ``experiment_name``),
3. environment variables (``KF_PIPELINES_ENDPOINT`` or ``KFP_HOST``, ``KF_PIPELINES_NAMESPACE``,
   ``KFP_TOKEN`` or ``KF_PIPELINES_TOKEN``, ``KF_PIPELINES_SA_TOKEN_PATH``),
4. the config file (``$KALE_LIKE_CONFIG`` or ``~/.config/kale-like/config.yaml``, keys under
   ``kfp:``: ``host``, ``namespace``, ``experiment``, ``token_file``, ``token``,
   ``kube_context``, ``ssl_ca_cert``, ``verify_ssl``),
5. the in-cluster service-account token (``/var/run/secrets/kubernetes.io/serviceaccount/token``)
   when running inside a pod.

A token read from a *file* that is a projected service-account token is handed to
``kfp.Client`` as refreshing credentials (the kubelet rotates it); any other token is a fixed
bearer token. Tokens live in :class:`Secret`, whose ``str``/``repr`` never show the value, and
:func:`redact` scrubs them from any text before it is printed or logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, UsageError

ENV_HOST = ("KF_PIPELINES_ENDPOINT", "KFP_HOST")
ENV_NAMESPACE = ("KF_PIPELINES_NAMESPACE",)
ENV_TOKEN = ("KFP_TOKEN", "KF_PIPELINES_TOKEN")
ENV_SA_TOKEN_PATH = "KF_PIPELINES_SA_TOKEN_PATH"
ENV_CONFIG = "KALE_LIKE_CONFIG"
ENV_EXPERIMENT = ("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",)
DEFAULT_CONFIG = "~/.config/kale-like/config.yaml"
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_EXPERIMENT = "Default"

TOKEN_HELP = (
    "provide a bearer token: `--token-file FILE`, the KFP_TOKEN (or KF_PIPELINES_TOKEN) "
    "environment variable, KF_PIPELINES_SA_TOKEN_PATH pointing at a service-account token, "
    "or `token_file:` under `kfp:` in ~/.config/kale-like/config.yaml"
)


class Secret:
    """A credential: compares and hashes like its value, never prints it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class KfpConfig:
    """Resolved connection settings; ``sources`` says where each one came from."""

    host: str | None = None
    namespace: str | None = None
    experiment: str = DEFAULT_EXPERIMENT
    token: Secret | None = field(default=None, repr=False)
    token_file: str | None = None  # a refreshing token file (service-account style)
    kube_context: str | None = None
    ssl_ca_cert: str | None = None
    verify_ssl: bool | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def auth_source(self) -> str | None:
        return self.sources.get("token")

    def secrets(self) -> list[str]:
        """Every credential value this config can send (for :func:`redact`)."""
        out = []
        if self.token:
            out.append(self.token.reveal())
        if self.token_file:
            value = _read_token(self.token_file, "token file", required=False)
            if value:
                out.append(value)
        return out

    def describe(self) -> dict[str, Any]:
        """A printable summary with no credential in it."""
        return {
            "host": self.host,
            "namespace": self.namespace,
            "experiment": self.experiment,
            "auth": self.auth_source or "none",
            "kube_context": self.kube_context,
            "sources": dict(self.sources),
        }


@dataclass(frozen=True)
class KfpTarget:
    """The KFP endpoint a verb is asked to use (flags; None falls back as the module
    docstring says): what :func:`resolve` turns into a :class:`KfpConfig`."""

    host: str | None = None
    namespace: str | None = None
    experiment: str | None = None
    token_file: str | None = None
    config_path: str | None = None


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with every secret (also URL-encoded, as in a redirect's ``Location``), any
    ``Bearer ...`` value and any credential-like URL parameter replaced by ``***``."""
    import re
    from urllib.parse import quote, quote_plus

    for s in secrets:
        if s and len(s) >= 4:
            for form in {s, quote(s, safe=""), quote_plus(s), quote(s)}:
                text = text.replace(form, "***")
    text = re.sub(r"(?i)(bearer\s+)[^\s'\",}]+", r"\1***", text)
    return re.sub(
        r"(?i)([?&#;](?:access_|id_|refresh_|auth_)?(?:token|code|password|secret|key)=)[^&#\s'\"]+",
        r"\1***",
        text,
    )


def _read_token(path: str, what: str, *, required: bool = True) -> str | None:
    try:
        value = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        if not required:
            return None
        raise UsageError(
            f"cannot read the {what} {path!r}: {exc.strerror}",
            kind="bad-token-file",
            fix="check the path, or " + TOKEN_HELP,
        ) from exc
    if not value:
        if not required:
            return None
        raise UsageError(f"the {what} {path!r} is empty", kind="bad-token-file", fix=TOKEN_HELP)
    return value


def load_config_file(path: str | None = None, env: Mapping[str, str] | None = None) -> dict:
    """The ``kfp:`` mapping of the config file ({} when there is none)."""
    env = os.environ if env is None else env
    explicit = path or env.get(ENV_CONFIG)
    target = Path(explicit or DEFAULT_CONFIG).expanduser()
    if not target.is_file():
        if explicit:
            raise UsageError(f"config file {str(target)!r} does not exist", kind="bad-config-file")
        return {}
    import yaml

    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(
            f"config file {str(target)!r} is not valid YAML: {exc}", kind="bad-config-file"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(f"config file {str(target)!r} must be a mapping", kind="bad-config-file")
    section = data.get("kfp", data)
    if not isinstance(section, dict):
        raise UsageError(
            f"`kfp:` in config file {str(target)!r} must be a mapping", kind="bad-config-file"
        )
    return {str(k): v for k, v in section.items()}


def notebook_settings(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``kfp_host``/``namespace``/``experiment_name`` of a notebook's ``kubeflow_notebook``."""
    if not metadata:
        return {}
    meta = metadata.get("kubeflow_notebook", metadata)
    if not isinstance(meta, Mapping):
        return {}
    out: dict[str, Any] = {}
    if meta.get("kfp_host"):
        out["host"] = str(meta["kfp_host"])
    if meta.get("namespace"):
        out["namespace"] = str(meta["namespace"])
    exp = meta.get("experiment_name")
    if not exp and isinstance(meta.get("experiment"), Mapping):
        exp = meta["experiment"].get("name")  # Kale 0.x stores {"id", "name"}
    if exp:
        out["experiment"] = str(exp)
    return out


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        if env.get(name):
            return env[name], name
    return None


def resolve(
    *,
    host: str | None = None,
    namespace: str | None = None,
    experiment: str | None = None,
    token_file: str | None = None,
    kube_context: str | None = None,
    notebook_metadata: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | None = None,
    in_cluster_token: str = IN_CLUSTER_TOKEN,
) -> KfpConfig:
    """Resolve host, namespace, experiment and credentials by precedence (module docstring)."""
    env = os.environ if env is None else env
    nb = notebook_settings(notebook_metadata)
    cfg = load_config_file(config_path, env)
    sources: dict[str, str] = {}

    def pick(key: str, flag: Any, env_names: tuple[str, ...], cfg_key: str) -> Any:
        if flag not in (None, ""):
            sources[key] = "flag"
            return flag
        if nb.get(key):
            sources[key] = "notebook metadata"
            return nb[key]
        found = _first_env(env, env_names)
        if found:
            sources[key] = f"env {found[1]}"
            return found[0]
        if cfg.get(cfg_key) not in (None, ""):
            sources[key] = "config file"
            return cfg[cfg_key]
        return None

    r_host = pick("host", host, ENV_HOST, "host")
    r_ns = pick("namespace", namespace, ENV_NAMESPACE, "namespace")
    r_exp = pick("experiment", experiment, ENV_EXPERIMENT, "experiment")
    if r_host is not None:
        r_host = _check_host(str(r_host), sources.get("host", ""))
    if r_ns is None and Path(IN_CLUSTER_NAMESPACE).is_file() and env.get("KUBERNETES_SERVICE_HOST"):
        r_ns = Path(IN_CLUSTER_NAMESPACE).read_text(encoding="utf-8").strip() or None
        if r_ns:
            sources["namespace"] = "in-cluster service account"

    token, refresh_file = _resolve_token(token_file, env, cfg, in_cluster_token, sources)

    r_ctx = kube_context or cfg.get("kube_context")
    verify = cfg.get("verify_ssl")
    if verify is not None and not isinstance(verify, bool):
        raise UsageError(
            "`verify_ssl` in the config file must be true or false", kind="bad-config-file"
        )
    return KfpConfig(
        host=r_host,
        namespace=str(r_ns) if r_ns else None,
        experiment=str(r_exp) if r_exp else DEFAULT_EXPERIMENT,
        token=token,
        token_file=refresh_file,
        kube_context=str(r_ctx) if r_ctx else None,
        ssl_ca_cert=str(cfg["ssl_ca_cert"]) if cfg.get("ssl_ca_cert") else None,
        verify_ssl=verify,
        sources=sources,
    )


def _resolve_token(
    token_file: str | None,
    env: Mapping[str, str],
    cfg: Mapping[str, Any],
    in_cluster_token: str,
    sources: dict[str, str],
) -> tuple[Secret | None, str | None]:
    """(fixed bearer token, refreshing token file) from the first source that has one;
    records that source in ``sources["token"]``."""
    token: Secret | None = None
    refresh_file: str | None = None
    if token_file:
        token = Secret(_read_token(token_file, "token file") or "")
        sources["token"] = "flag --token-file"
    elif (found := _first_env(env, ENV_TOKEN)) is not None:
        token = Secret(found[0].strip())
        sources["token"] = f"env {found[1]}"
    elif env.get(ENV_SA_TOKEN_PATH):
        refresh_file = env[ENV_SA_TOKEN_PATH]
        _read_token(refresh_file, f"service-account token ({ENV_SA_TOKEN_PATH})")
        sources["token"] = f"env {ENV_SA_TOKEN_PATH}"
    elif cfg.get("token_file"):
        token = Secret(_read_token(str(cfg["token_file"]), "token file of the config file") or "")
        sources["token"] = "config file token_file"
    elif cfg.get("token"):
        token = Secret(str(cfg["token"]).strip())
        sources["token"] = "config file token"
    elif Path(in_cluster_token).is_file() and env.get("KUBERNETES_SERVICE_HOST"):
        refresh_file = in_cluster_token
        sources["token"] = "in-cluster service account"
    return token, refresh_file


def _check_host(host: str, source: str) -> str:
    from urllib.parse import urlsplit

    host = host.strip()
    if "://" not in host:
        host = "https://" + host  # kfp.Client's own default
    parts = urlsplit(host)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"KFP host {host!r} (from {source or 'settings'}) is not an http(s) URL",
            kind="bad-kfp-host",
            fix="pass e.g. --host https://kubeflow.example.com/pipeline",
        )
    if parts.username or parts.password:
        raise UsageError(
            "put credentials in a token, not in the KFP host URL",
            kind="bad-kfp-host",
            fix=TOKEN_HELP,
        )
    return host.rstrip("/")


def no_host_error() -> EnvironmentProblem:
    return EnvironmentProblem(
        "no Kubeflow Pipelines endpoint is configured and no kube config was found",
        kind="kfp-no-host",
        fix="pass --host https://HOST/pipeline, set KF_PIPELINES_ENDPOINT, add `kfp_host` to "
        "the notebook's kubeflow_notebook metadata, or `host:` under `kfp:` in "
        "~/.config/kale-like/config.yaml",
    )
