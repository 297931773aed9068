"""The embedded local engine: one process per step, parallel DAG, content-addressed cache.

``LocalEngine().run(request)`` runs a pipeline on this machine with no cluster and no
Docker. Pieces: :mod:`.engine` (the run: plan, walk, settle, ``run.json``), :mod:`.plan`
(``--no-cache/--from/--only``), :mod:`.scheduler` (the walk), :mod:`.cache` (keys, atomic
entries), :mod:`.executor` (job files, a fresh interpreter per step), :mod:`.warm` +
:mod:`.zygote` (step processes forked from a warm runtime, the default), :mod:`.stepmain`
(final values), :mod:`kale_like.records` (run folders, ``run.json``).
"""

from .engine import LocalEngine, default_jobs

__all__ = ["LocalEngine", "default_jobs"]
