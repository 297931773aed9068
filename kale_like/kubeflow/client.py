"""Everything that talks to a Kubeflow Pipelines API server, through an injected client.

The client is any object with ``kfp.Client``'s methods (``get_pipeline_id``, ``upload_pipeline``,
``upload_pipeline_version``, ``list_pipeline_versions``, ``create_experiment``,
``run_pipeline``, ``get_run``, ``list_runs``); :func:`connect` builds a real one. Every call
goes through :meth:`Remote.call`, which retries transient failures (5xx, connection resets)
with exponential backoff, swallows what ``kfp.Client`` prints, and turns failures into
:mod:`kale_like.errors` with credentials scrubbed from the text.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ..errors import EnvironmentProblem, KaleError, RunFailed, UsageError
from ..run_results import ProgressCallback, RunEvent
from .config import TOKEN_HELP, KfpConfig, no_host_error, redact
from .errors import DEFAULT_RETRY, Retry, classify, with_retry
from .runs import RunSnapshot, _get, snapshot, task_step_names

__all__ = [
    "Remote",
    "Retry",
    "RunSnapshot",
    "classify",
    "connect",
    "make_client",
    "probe",
    "snapshot",
    "task_step_names",
]

HEALTHZ = "/apis/v2beta1/healthz"
# ---------------------------------------------------------------------------- connect


def probe(
    config: KfpConfig, *, retry: Retry = DEFAULT_RETRY, timeout: float = 10.0
) -> dict[str, Any]:
    """GET healthz once (with retries on transient errors); the reply as a dict."""
    if not config.host:
        raise no_host_error()
    req = urllib.request.Request(config.host + HEALTHZ, method="GET")
    secrets = config.secrets()
    if secrets:
        req.add_header("Authorization", f"Bearer {secrets[0]}")
    ctx = None
    if config.host.startswith("https://"):
        ctx = ssl.create_default_context(cafile=config.ssl_ca_cert)
        if config.verify_ssl is False:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

    # Never follow redirects: urllib would resend the Authorization header to any host.
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=ctx))

    def once() -> dict[str, Any]:
        try:
            with opener.open(req, timeout=timeout) as resp:
                raw, ctype = resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                # The Location may carry the token (a gateway echoing it): never print it.
                where = redact(str(exc.headers.get("Location", "?")), secrets)
                raise EnvironmentProblem(
                    f"{config.host}{HEALTHZ} redirected to {where} "
                    "(a login page?) instead of answering",
                    kind="kfp-login-redirect",
                    # A gateway sends its login page for a missing token and a wrong path alike.
                    fix="check the path prefix (behind the Kubeflow gateway the API lives under "
                    "/pipeline, e.g. --host https://kubeflow.example.com/pipeline), and "
                    + TOKEN_HELP,
                ) from None
            raise
        try:
            return dict(json.loads(raw or b"{}"))
        except ValueError as exc:
            raise EnvironmentProblem(
                f"{config.host}{HEALTHZ} answered {ctype or 'something'} that is not JSON: this "
                "is not the Kubeflow Pipelines API",
                kind="kfp-not-found",
                fix="check the path prefix of the host: behind the Kubeflow gateway the API "
                "lives under /pipeline, e.g. --host https://kubeflow.example.com/pipeline",
            ) from exc

    return with_retry(once, retry, config.host, secrets)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def make_client(config: KfpConfig) -> Any:
    """A real ``kfp.Client`` for ``config`` (call :func:`probe` first for clean errors)."""
    try:
        import kfp
    except ImportError as exc:  # pragma: no cover - kfp is a core dependency
        raise EnvironmentProblem(
            "deploying needs the package 'kfp'",
            kind="missing-package",
            fix="pip install 'kfp==2.17.*'",
        ) from exc
    kwargs: dict[str, Any] = {
        "host": config.host,
        "kube_context": config.kube_context,
        "ssl_ca_cert": config.ssl_ca_cert,
        "verify_ssl": config.verify_ssl,
    }
    if config.namespace:
        kwargs["namespace"] = config.namespace
    if config.token:
        kwargs["existing_token"] = config.token.reveal()
    elif config.token_file:
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=config.token_file)
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(**kwargs)


def connect(config: KfpConfig, *, client: Any = None, retry: Retry = DEFAULT_RETRY) -> Remote:
    """A :class:`Remote` over ``client`` (or a new ``kfp.Client`` after a health probe)."""
    if client is None:
        # With no host, kfp.Client finds the API in-cluster or through the kube config.
        in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        if not config.host and not (config.kube_context or in_pod or _kube_config_present()):
            raise no_host_error()
        if config.host:
            health = probe(config, retry=retry)
            if health.get("multi_user") and not config.namespace:
                # kfp.Client would guess from a pod's service account, or send no namespace
                # and get a 400 later: say what is missing now.
                raise UsageError(
                    f"{config.host} is a multi-user Kubeflow: runs and experiments need a "
                    "namespace",
                    kind="kfp-namespace-required",
                    fix="pass --namespace YOUR-PROFILE-NAMESPACE, set KF_PIPELINES_NAMESPACE, "
                    "or add `namespace:` under `kfp:` in ~/.config/kale-like/config.yaml",
                )
        try:
            client = make_client(config)
        except KaleError:
            raise
        except Exception as exc:  # noqa: BLE001
            mapped = classify(exc, config.host)
            if mapped is None:
                raise EnvironmentProblem(
                    redact(f"cannot create the KFP client: {exc}", config.secrets()),
                    kind="kfp-client",
                ) from None
            raise mapped from None
    return Remote(client, config, retry=retry)


def _kube_config_present() -> bool:
    from pathlib import Path

    path = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p)


class Remote:
    """Operations on one KFP endpoint through an injected client."""

    def __init__(
        self,
        client: Any,
        config: KfpConfig,
        *,
        retry: Retry = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.config = config
        self.retry = retry
        self._sleep = sleep
        self._secrets = config.secrets()

    def __repr__(self) -> str:
        return f"Remote(host={self.config.host!r}, namespace={self.config.namespace!r})"

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)`` with retries, quiet stdout and mapped errors."""
        fn = getattr(self.client, method)

        def once() -> Any:
            with contextlib.redirect_stdout(io.StringIO()):
                return fn(*args, **kwargs)

        return with_retry(once, self.retry, self.config.host, self._secrets)

    # -- pipelines --------------------------------------------------------------------
    def upload(
        self,
        yaml_path: str,
        name: str,
        *,
        version: str,
        description: str = "",
    ) -> tuple[str, str, bool]:
        """Upload ``yaml_path`` as pipeline ``name`` or as a new ``version`` of it.

        Returns (pipeline_id, version_id, created_pipeline). An existing version is never
        replaced: the server refuses a duplicate version name (exit 2).
        """
        try:
            pipeline_id = self.call("get_pipeline_id", name)
        except ValueError as exc:  # kfp.Client: several pipelines share the name
            raise UsageError(str(exc), kind="kfp-ambiguous-pipeline") from None
        if pipeline_id is None:
            try:
                pipe = self.call(
                    "upload_pipeline",
                    yaml_path,
                    pipeline_name=name,
                    description=description or None,
                )
            except UsageError as err:
                # Someone created it since we looked: add our upload as a version instead.
                if err.kind != "kfp-conflict":
                    raise
                pipeline_id = self.call("get_pipeline_id", name)
                if pipeline_id is None:
                    raise
            else:
                pipeline_id = str(_get(pipe, "pipeline_id"))
                return pipeline_id, self._latest_version(pipeline_id), True
        ver = self.call(
            "upload_pipeline_version",
            yaml_path,
            pipeline_version_name=version,
            pipeline_id=pipeline_id,
            description=description or None,
        )
        return pipeline_id, str(_get(ver, "pipeline_version_id")), False

    def _latest_version(self, pipeline_id: str) -> str:
        resp = self.call(
            "list_pipeline_versions", pipeline_id, page_size=1, sort_by="created_at desc"
        )
        versions = _get(resp, "pipeline_versions") or []
        if not versions:
            raise EnvironmentProblem(
                f"the server created pipeline {pipeline_id} with no version",
                kind="kfp-server-error",
            )
        return str(_get(versions[0], "pipeline_version_id"))

    def experiment(self, name: str) -> str:
        """The id of experiment ``name`` in the configured namespace (created if missing)."""
        exp = self.call("create_experiment", name, namespace=self.config.namespace)
        return str(_get(exp, "experiment_id"))

    # -- runs -------------------------------------------------------------------------
    def start_run(
        self,
        experiment_id: str,
        name: str,
        pipeline_id: str | None,
        version_id: str | None,
        parameters: dict[str, Any],
        *,
        package_path: str | None = None,
    ) -> str:
        """Start a run of an uploaded version, or of ``package_path`` sent with the run."""
        target: dict[str, Any] = (
            {"pipeline_package_path": package_path}
            if package_path is not None
            else {"pipeline_id": pipeline_id, "version_id": version_id}
        )
        run = self.call("run_pipeline", experiment_id, name, params=parameters, **target)
        return str(_get(run, "run_id"))

    def get(self, run_id: str, task_names: dict[str, str] | None = None) -> RunSnapshot:
        return snapshot(self.call("get_run", run_id), task_names)

    def list(self, *, experiment_id: str | None = None, page_size: int = 20) -> list[RunSnapshot]:
        resp = self.call(
            "list_runs",
            page_size=page_size,
            sort_by="created_at desc",
            experiment_id=experiment_id,
            namespace=self.config.namespace,
        )
        return [snapshot(r) for r in (_get(resp, "runs") or [])]

    def run_url(self, run_id: str) -> str:
        base = getattr(self.client, "_uihost", None) or self.config.host or ""
        return f"{str(base).rstrip('/')}/#/runs/details/{run_id}"

    def watch(
        self,
        run_id: str,
        *,
        task_names: dict[str, str] | None = None,
        progress: ProgressCallback | None = None,
        poll: float = 2.0,
        max_poll: float = 15.0,
        timeout: float | None = None,
    ) -> RunSnapshot:
        """Poll until the run ends; report every step state change to ``progress``.

        The wait grows ×1.5 per unchanged poll up to ``max_poll`` and resets on any change.
        """
        seen: dict[str | None, str] = {}
        wait, waited = poll, 0.0
        while True:
            snap = self.get(run_id, task_names)
            changed = False
            for name, step in snap.steps.items():
                if seen.get(name) != step.status:
                    seen[name] = step.status
                    changed = True
                    if progress:
                        progress(RunEvent(run_id, name, step.status, step.seconds, step.error))
            if seen.get(None) != snap.status:
                seen[None] = snap.status
                changed = True
                if progress:
                    progress(RunEvent(run_id, None, snap.status, 0.0, snap.error))
            if snap.done:
                return snap
            if timeout is not None and waited >= timeout:
                raise RunFailed(
                    f"run {run_id} did not finish within {timeout:g} s (state {snap.state})",
                    kind="kfp-watch-timeout",
                )
            wait = poll if changed else min(max_poll, wait * 1.5)
            self._sleep(wait)
            waited += wait
