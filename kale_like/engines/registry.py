"""Engine registry: a name -> an object that runs a pipeline (papermill ``engines.py`` style).

Built-ins are named by import path and loaded on first use, so asking for ``local`` never
imports KFP or Docker. Third parties register under the entry point group
``kale_like.engines`` (``name = "package.module:EngineClass"``) or call :func:`register`.

An engine is any object with ``name`` and ``run(request: RunRequest) -> RunResult``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import EnvironmentProblem, KaleError, UsageError
from ..model import Pipeline
from ..registry import Registry
from ..run_results import ProgressCallback, RunResult

ENTRY_POINT_GROUP = "kale_like.engines"

# name -> "module:attribute" of a zero-argument factory (usually the engine class).
BUILTIN_ENGINES: dict[str, str] = {
    "local": "kale_like.engines.local:LocalEngine",
    "kfp-local": "kale_like.engines.kfp_local:KfpLocalEngine",
    "docker": "kale_like.engines.docker:DockerEngine",
    "kfp": "kale_like.engines.kubeflow:KfpEngine",
}

# The options each built-in engine reads from ``RunRequest.options`` (``-o KEY=VALUE``,
# REST ``engine_options``); any other name is refused, so a typo or a token given to an
# engine that ignores it never passes silently. Third-party engines declare theirs as an
# ``option_names`` attribute (without one, their options are not checked).
BUILTIN_OPTIONS: dict[str, tuple[str, ...]] = {
    "local": (),
    "kfp-local": (),
    "docker": ("base_image", "wheelhouse", "registry", "user", "extend_images", "client"),
    "kfp": (
        "host",
        "namespace",
        "experiment",
        "token_file",
        "client",
        "poll",
        "timeout",
        "images",
        "mlmd",
    ),
}

# What the verb must know about an engine before and after it runs, by capability:
# KFP_ARGUMENTS - the parameter values travel as KFP pipeline arguments, so values KFP
# cannot carry are refused before any run folder; RECORDS_OBSERVED - its run records report
# the writes the analysis missed (run.json ``observed``), kept for later analyses of the
# notebook. Third-party engines declare theirs as a ``capabilities`` attribute.
KFP_ARGUMENTS = "kfp-arguments"
RECORDS_OBSERVED = "records-observed"
BUILTIN_CAPABILITIES: dict[str, frozenset[str]] = {
    "local": frozenset({RECORDS_OBSERVED}),
    "kfp-local": frozenset({KFP_ARGUMENTS}),
    "docker": frozenset({KFP_ARGUMENTS}),
    "kfp": frozenset({KFP_ARGUMENTS}),
}


class CancelToken(threading.Event):
    """A cancel request for a run: ``set()`` it from any thread; the engine stops its running
    steps within seconds and the run ends "cancelled". Callbacks registered with
    :meth:`on_cancel` run (once, in the cancelling thread) when it is set, so an engine need
    not poll. A plain :class:`threading.Event` works too (engines then watch it)."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []
        self._cb_lock = threading.Lock()

    def on_cancel(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` when cancelled (now, if already); returns a function that unregisters."""
        with self._cb_lock:
            if not self.is_set():
                self._callbacks.append(fn)
                return lambda: self._forget(fn)
        fn()
        return lambda: None

    def _forget(self, fn: Callable[[], None]) -> None:
        with self._cb_lock:
            if fn in self._callbacks:
                self._callbacks.remove(fn)

    def set(self) -> None:
        with self._cb_lock:
            first = not self.is_set()
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        if first:
            for fn in callbacks:
                fn()


@dataclass
class RunRequest:
    """Everything an engine needs to run one pipeline; built by :func:`kale_like.api.run`.

    ``parameters`` holds the full, type-checked parameter values (defaults filled in).
    """

    pipeline: Pipeline
    parameters: dict[str, Any]
    notebook_path: Path | None = None
    run_root: Path | None = None
    jobs: int | None = None
    use_cache: bool = True
    from_step: str | None = None
    only: tuple[str, ...] = ()
    progress: ProgressCallback | None = None
    keep_values: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # engine-specific extras
    cancel: threading.Event | None = None  # set -> stop running steps, status "cancelled"


class Engine(Protocol):
    name: str

    def run(self, request: RunRequest) -> RunResult: ...


engine_registry: Registry[Callable[[], Any]] = Registry(
    "engine",
    group=ENTRY_POINT_GROUP,
    builtins=BUILTIN_ENGINES,
    unknown_kind="unknown-engine",
    unknown_fix="pass --engine with one of the names above",
    unavailable_kind="engine-unavailable",
    unavailable_fix="install the extra it needs (pip install 'kale-like[dev]') "
    "or pick another engine: {names}",
    sort_names=True,
)


def register(name: str, factory: Callable[[], Any] | str) -> None:
    """Register an engine factory (or a ``"module:attr"`` string loaded on first use)."""
    engine_registry.register(name, factory)


def available() -> list[str]:
    """Every registered engine name, sorted (whether or not its dependencies import)."""
    return engine_registry.names()


def option_names(name: str, engine: Any = None) -> tuple[str, ...] | None:
    """The options engine ``name`` takes (None: it does not say, so nothing is checked)."""
    declared = getattr(engine, "option_names", None) if engine is not None else None
    if declared is not None:
        return tuple(declared)
    return BUILTIN_OPTIONS.get(name)


def capabilities(name: str, engine: Any = None) -> frozenset[str]:
    """What engine ``name`` (the loaded ``engine``, if given) does, as capability names:
    its ``capabilities`` attribute, else the built-in ones of the name it reports."""
    declared = getattr(engine, "capabilities", None) if engine is not None else None
    if declared is not None:
        return frozenset(declared)
    own = getattr(engine, "name", name) if engine is not None else name
    return BUILTIN_CAPABILITIES.get(own, frozenset())


def check_options(name: str, options: Any, engine: Any = None) -> None:
    """Refuse engine options ``name`` does not take (UsageError, exit 2 / HTTP 400)."""
    if options is None:
        return
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise UsageError(
            "engine options must map option names to values",
            kind="bad-engine-option",
            fix="-o KEY=VALUE on the command line; an object in a REST request",
        )
    valid = option_names(name, engine)
    if valid is None:
        return
    unknown = sorted(set(options) - set(valid))
    if unknown:
        takes = f"it takes: {', '.join(valid)}" if valid else "it takes none"
        raise UsageError(
            f"unknown option(s) {', '.join(unknown)} for engine {name!r}",
            kind="unknown-engine-option",
            tag="-o/--engine-option",
            fix=f"drop them; engine {name!r} would ignore them ({takes})",
        )


def get(name: str) -> Engine:
    """The engine called ``name``; unknown -> UsageError (exit 2) listing the valid ones."""
    factory = engine_registry.get(name)
    try:
        engine = factory()
    except KaleError:
        raise
    except (ImportError, AttributeError) as exc:  # an engine importing its extra lazily
        raise engine_registry.unavailable(name, exc) from exc
    if not callable(getattr(engine, "run", None)):
        raise EnvironmentProblem(
            f"engine {name!r} ({factory!r}) has no run(request) method", kind="engine-unavailable"
        )
    return engine
