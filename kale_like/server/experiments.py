"""``GET /kale-like/kfp/experiments?host=URL``: the experiment names of a KFP endpoint, for
the panel's experiment field (a list to pick from; typing a new name still works, deploy
creates it).

The host, namespace and credentials resolve as for ``kale-like deploy`` (the query's
``host`` first, then the environment and the config file); errors answer as every verb's do
(503 when KFP is unreachable).
"""

from __future__ import annotations

from typing import Any

import tornado.web

from ..errors import UsageError
from ..kubeflow import client as kfp_client
from ..kubeflow import config as kfp_config
from .base import KaleHandler

__all__ = ["ExperimentsHandler", "experiment_names"]

_MAX_HOST = 2048


def experiment_names(host: str | None, namespace: str | None = None) -> dict[str, Any]:
    """The names of the experiments at ``host`` (sorted), and the host they came from."""
    config = kfp_config.resolve(host=host or None, namespace=namespace or None)
    remote = kfp_client.connect(config)
    names: set[str] = set()
    token = ""
    for _ in range(20):  # 20 pages of 100: more than a picker can show anyway
        resp = remote.call(
            "list_experiments", page_token=token, page_size=100, namespace=config.namespace
        )
        for exp in kfp_client._get(resp, "experiments") or []:
            name = kfp_client._get(exp, "display_name")
            if isinstance(name, str) and name:
                names.add(name)
        token = kfp_client._get(resp, "next_page_token") or ""
        if not token:
            break
    return {"host": config.host, "experiments": sorted(names)}


class ExperimentsHandler(KaleHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        async def work() -> None:
            host = self.get_query_argument("host", "") or ""
            namespace = self.get_query_argument("namespace", "") or ""
            if len(host) > _MAX_HOST or (host and not host.startswith(("http://", "https://"))):
                raise UsageError(
                    f"'host' must be an http(s) URL, got {host[:80]!r}",
                    kind="bad-host",
                    fix="set the KFP endpoint to e.g. http://localhost:8080",
                )
            self.send(200, await self.in_thread(experiment_names, host, namespace))

        await self.guard(work())
