"""The papermill engine class :class:`KaleLikeEngine`, and its registration as default.

papermill calls three class methods; :meth:`KaleLikeEngine.execute_managed_notebook` asks
:func:`.mode.choose` how to run the notebook, then runs it as a pipeline (:mod:`.pipeline`)
or cell by cell in a kernel (:mod:`.kernel`). With ``KALE_LIKE_PAPERMILL_DEFAULT=1`` in the
environment, importing this module also registers the engine as papermill's default.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .mode import choose, notebook_path_for

DEFAULT_ENV = "KALE_LIKE_PAPERMILL_DEFAULT"
log = logging.getLogger("papermill")


class KaleLikeEngine:
    """A papermill engine (papermill calls only these three class methods).

    It does not subclass ``papermill.engines.Engine`` at import time: papermill imports this
    module while it registers its entry points, so importing papermill from here would be
    circular. :meth:`execute_notebook` runs papermill's own wrapper around this class.
    """

    @classmethod
    def execute_notebook(cls, nb: Any, kernel_name: str, **kwargs: Any) -> Any:
        """papermill's ``Engine.execute_notebook`` (execution manager, progress bar, saves)."""
        from papermill.engines import Engine

        return Engine.execute_notebook.__func__(cls, nb, kernel_name, **kwargs)

    @classmethod
    def nb_kernel_name(cls, nb: Any, name: str | None = None) -> str:
        from papermill.utils import nb_kernel_name

        return str(nb_kernel_name(nb, name))

    @classmethod
    def nb_language(cls, nb: Any, language: str | None = None) -> str:
        from papermill.utils import nb_language

        return str(nb_language(nb, language))

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        """Run ``nb_man.nb`` as a pipeline or cell by cell, whichever :func:`choose` says."""
        choice = choose(nb_man.nb, kernel_name, kwargs, notebook_path_for(kwargs.get("input_path")))
        if choice.warning:
            log.warning(choice.warning)
        if choice.mode == "pipeline" and choice.pipeline is not None:
            from .pipeline import execute_as_pipeline

            cache = "" if choice.use_cache else " without the cache"
            log.info(f"kale_like: running the notebook as a pipeline{cache}")
            return execute_as_pipeline(
                nb_man, choice.pipeline, use_cache=choice.use_cache, options=kwargs
            )
        from .kernel import execute_in_kernel

        log.debug(f"kale_like: running cell by cell in a kernel ({choice.reason})")
        return execute_in_kernel(nb_man, kernel_name, kwargs)


def _make_default() -> None:
    """Register this engine under papermill's default name (None)."""
    import importlib
    import sys

    # papermill may be importing this module right now (from its entry points): take its
    # half-initialised engines module rather than importing it again.
    engines = sys.modules.get("papermill.engines") or importlib.import_module("papermill.engines")
    engines.papermill_engines.register(None, KaleLikeEngine)


if os.environ.get(DEFAULT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
    _make_default()
