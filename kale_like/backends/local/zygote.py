"""A warm step-process starter: a helper process that forks each step from a warm image.

Starting Python and importing IPython costs a step ~0.3 s, the same work every time. The
zygote (``python -m kale_like.backends.local.zygote``) imports the runtime once, then forks
one child per step on request. Every step still runs in a process of its own, with its own
working directory, environment, log file and session (so it can be stopped with everything
it started); the ``random`` module is reseeded from the OS as in a fresh interpreter.

Protocol (JSON lines): requests on the zygote's stdin
``{"id", "module", "job", "log", "cwd", "env"}``; replies on its stdout ``{"id", "pid"}``
when a step starts and ``{"id", "code"}`` when it ends. The zygote ends when its stdin closes.
Set ``KALE_LIKE_EXECUTOR=subprocess`` to start a new interpreter per step instead.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from typing import Any

STEPMAIN = "kale_like.backends.local.stepmain"

# Libraries that are safe to import before fork() and slow to import in every step. Torch,
# TensorFlow and matplotlib stay out: their threads or backend choice do not survive a fork.
PRELOADABLE = frozenset({"numpy", "pandas", "scipy", "sklearn", "pyarrow", "joblib"})


def _warm() -> None:
    try:
        import IPython.core.interactiveshell  # noqa: F401
        import traitlets.config  # noqa: F401

        from ...runtime import __main__ as runtime_main  # noqa: F401
        from ...runtime import artifacts, execute, marshal, report, state  # noqa: F401
        from . import stepmain  # noqa: F401

        marshal.registry.backends()  # the entry point scan
    except Exception:  # a missing optional piece only makes steps slower, never wrong
        pass


def _child(req: dict[str, Any]) -> int:
    """Body of a forked step process."""
    os.setsid()
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(req["cwd"])
    # `python -m` puts the working directory first on sys.path: modules beside the notebook
    # import as they would in a fresh step interpreter.
    sys.path[0] = os.getcwd()
    os.environ.clear()
    os.environ.update(req["env"])
    _reseed()
    if req["module"] == STEPMAIN:
        from .stepmain import main
    else:
        from ...runtime.__main__ import main
    return int(main([req["job"]]) or 0)


def _preload(modules: list[str]) -> None:
    import importlib

    for name in modules:
        if name.split(".")[0] in PRELOADABLE and name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # the step will report it, with its own traceback
                pass


def _reseed() -> None:
    """A fresh interpreter seeds its RNGs from the OS; forked ones would share the state."""
    import random

    random.seed()
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        try:
            np_random.seed()
        except Exception:
            pass


def _fork(req: dict[str, Any]) -> int:
    _preload(list(req.get("preload") or ()))
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _child(req)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)
    return 0  # unreachable


def serve() -> None:
    _warm()
    out = sys.stdout
    stdin = sys.stdin.buffer
    running: dict[int, str] = {}
    buf = b""
    open_ = True

    def reply(data: dict[str, Any]) -> None:
        out.write(json.dumps(data) + "\n")
        out.flush()

    while open_ or running:
        if open_:
            ready, _, _ = select.select([stdin], [], [], 0.02)
            if ready:
                chunk = os.read(stdin.fileno(), 65536)
                if not chunk:
                    open_ = False
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    req = json.loads(line)
                    pid = _fork(req)
                    running[pid] = req["id"]
                    reply({"id": req["id"], "pid": pid})
        else:
            select.select([], [], [], 0.02)
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rid = running.pop(pid, None)
            if rid is not None:
                reply({"id": rid, "code": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    serve()
