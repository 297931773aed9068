"""A warm step-process starter: a helper process that forks each step from a warm image.

Starting Python and importing IPython costs a step ~0.3 s, the same work every time. The
zygote (``python -m kale_like.engines.local.zygote``) imports the runtime once, then forks
one child per step on request. Every step still runs in a process of its own, with its own
working directory, environment, log file and session (so it can be stopped with everything
it started); the ``random`` module is reseeded from the OS as in a fresh interpreter.

Protocol (JSON lines): requests on the zygote's stdin
``{"id", "module", "job", "log", "cwd", "env", "timeout"?, "exec"?}``; replies on its stdout
``{"id", "pid"}`` when a step starts and ``{"id", "code", "timed_out"?}`` when it ends. With
``"exec": PYTHON`` the child starts a new interpreter (``KALE_LIKE_EXECUTOR=subprocess``).

The zygote is also the keeper of the steps it starts (:mod:`.procs`): it enforces their
``timeout:``, and when its stdin closes (the runner ended, however it ended) or it gets
``SIGTERM``/``SIGHUP`` it kills every step group it started and exits.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from typing import Any

from .procs import Keeper, die_with_parent

STEPMAIN = "kale_like.engines.local.stepmain"

# Libraries that are safe to import before fork() and slow to import in every step. Torch,
# TensorFlow and matplotlib stay out: their threads or backend choice do not survive a fork.
PRELOADABLE = frozenset({"numpy", "pandas", "scipy", "sklearn", "pyarrow", "joblib"})


def _warm() -> None:
    try:
        import IPython.core.interactiveshell  # noqa: F401
        import traitlets.config  # noqa: F401

        from ...runtime import __main__ as runtime_main  # noqa: F401

        # workspace + reads: every local step records what it reads (compiled once here)
        from ...runtime import (  # noqa: F401
            artifact_files,
            artifacts,
            execute,
            marshal,
            read_recorder,
            reads,
            state,
            step_notebook,
            workspace,
        )
        from . import stepmain  # noqa: F401

        marshal.registry.backends()  # the entry point scan
    except Exception:  # a missing optional piece only makes steps slower, never wrong
        pass


def _child(req: dict[str, Any], keeper: int) -> int:
    """Body of a forked step process."""
    os.setsid()  # its own group: stopped with everything it starts
    die_with_parent(keeper)
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(req["cwd"])
    if req.get("exec"):  # a fresh interpreter, still in the group the keeper owns
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # SIG_IGN would survive exec
        python = str(req["exec"])
        os.execve(python, [python, "-m", req["module"], req["job"]], dict(req["env"]))
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
    if not req.get("exec"):
        _preload(list(req.get("preload") or ()))
    keeper = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _child(req, keeper)
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
    keeper = Keeper()
    buf = b""
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    def reply(data: dict[str, Any]) -> None:
        try:
            out.write(json.dumps(data) + "\n")
            out.flush()
        except (BrokenPipeError, ValueError):  # the runner is gone: nobody to tell
            pass

    while not stopping:
        try:
            ready, _, _ = select.select([stdin], [], [], keeper.wakeup(0.02))
        except InterruptedError:
            continue
        if ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:  # the runner ended, however it ended: its steps end with it
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                pid = _fork(req)
                timeout = req.get("timeout")
                keeper.add(pid, req["id"], float(timeout) if timeout else None)
                reply({"id": req["id"], "pid": pid})
        keeper.enforce()
        while keeper.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            done = keeper.ended(pid, status)
            if done is not None:
                reply(done)
    keeper.kill_all()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    serve()
