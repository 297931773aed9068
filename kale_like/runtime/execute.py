"""Execute notebook cells with IPython semantics and capture their outputs as nbformat dicts.

One :class:`CellRunner` per step: it owns an IPython ``InteractiveShell`` whose user module is
a fresh ``__main__`` (so classes defined in the ``functions`` cell pickle by reference and
``get_ipython()`` works), runs cells with ``run_cell`` (magics and ``!`` lines work), names
each cell's code ``<cell N>`` (N = notebook cell index) so tracebacks point at the notebook,
and records every cell's stdout/stderr/display/result/error in execution order.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

CELL_PREFIX = "<cell "

# Jupyter kernels render matplotlib inline; plots become image/png display_data outputs.
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass
class CellError:
    """A user error raised by one cell."""

    cell: int
    exc_type: str
    message: str
    traceback: str  # the user's frames only
    exception: BaseException | None = None


@dataclass
class CellResult:
    index: int
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    seconds: float = 0.0
    error: CellError | None = None


class _Outputs:
    """Ordered nbformat outputs of the running cell; consecutive stream writes merge."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.items[-1] if self.items else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def add(self, output: dict[str, Any]) -> None:
        self.items.append(output)


class _Stream(io.TextIOBase):
    """A text stream that records writes as nbformat stream outputs and tees them to ``real``."""

    def __init__(self, name: str, sink: _Outputs, real: Any) -> None:
        self._name = name
        self._sink = sink
        self._real = real

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._sink.stream(self._name, text)
        if self._real is not None:
            try:
                self._real.write(text)
            except (OSError, ValueError):
                pass
        return len(text)

    def flush(self) -> None:
        if self._real is not None:
            try:
                self._real.flush()
            except (OSError, ValueError):
                pass

    def fileno(self) -> int:
        # Code that needs a real descriptor (e.g. faulthandler) gets the original one.
        if self._real is not None:
            return int(self._real.fileno())
        raise io.UnsupportedOperation("fileno")


def _jsonable_bundle(data: dict[str, Any]) -> dict[str, Any]:
    """nbformat mime bundles: text is str, JSON mimetypes stay objects, bytes become base64."""
    out: dict[str, Any] = {}
    for mime, value in data.items():
        if isinstance(value, bytes):
            import base64

            value = base64.b64encode(value).decode("ascii")
        out[mime] = value
    return out


def _machinery(filename: str) -> bool:
    return "/IPython/" in filename or "/kale_like/runtime/" in filename


def user_traceback(exc: BaseException, sources: dict[str, str] | None = None) -> str:
    """Format ``exc`` with the user's frames only: IPython's and the runtime's frames go.

    ``sources`` maps ``<cell N>`` to the cell's raw source: a line IPython transformed (a
    magic, a ``!`` line) is shown as the user wrote it.
    """
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _machinery(f.filename)]
    start = next((i for i, f in enumerate(frames) if f.filename.startswith(CELL_PREFIX)), 0)
    shown = []
    for frame in frames[start:]:
        raw = (sources or {}).get(frame.filename)
        raw_lines = raw.splitlines() if raw is not None else []
        transformed = (frame.line or "").strip()
        if (
            raw_lines
            and frame.lineno
            and 0 < frame.lineno <= len(raw_lines)
            and ("get_ipython()" in transformed)
        ):
            frame = traceback.FrameSummary(
                frame.filename, frame.lineno, frame.name, line=raw_lines[frame.lineno - 1]
            )
        shown.append(frame)
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(shown)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


class CellRunner:
    """Runs cells of one step in an IPython shell with a fresh ``__main__`` namespace."""

    def __init__(self) -> None:
        os.environ.setdefault("MPLBACKEND", _INLINE_BACKEND)
        self.main = types.ModuleType("__main__", doc="kale_like step namespace")
        self._saved_main = sys.modules.get("__main__")
        sys.modules["__main__"] = self.main
        self.shell = _shell(self.main)
        if "matplotlib" in sys.modules and os.environ["MPLBACKEND"] == _INLINE_BACKEND:
            _inline_plots(self.shell)
        self.ns: dict[str, Any] = self.shell.user_ns
        self._cell_index = -1
        self._source = ""
        self._outputs = _Outputs()
        self._exec_error: BaseException | None = None
        self._install_hooks()

    # -- set-up ----------------------------------------------------------------------------
    def _install_hooks(self) -> None:
        shell = self.shell
        runner = self
        shell.compile.get_code_name = lambda raw, transformed, number: (
            f"{CELL_PREFIX}{runner._cell_index}>"
        )
        self._install_display()

        def show(etype: Any, evalue: BaseException, stb: Any) -> None:
            runner._exec_error = evalue

        shell._showtraceback = show
        self._install_system()
        # Like a kernel, there is no GUI event loop to integrate: `%matplotlib inline` (and
        # any other backend request) must not fail.
        shell.enable_gui = lambda gui=None: None
        self._count = 0

    def _install_display(self) -> None:
        """Expression results and ``display()`` calls become the cell's outputs."""
        shell = self.shell
        runner = self
        from IPython.core.displayhook import DisplayHook
        from IPython.core.displaypub import DisplayPublisher

        class Hook(DisplayHook):
            def quiet(self) -> bool:
                # IPython reads the cell from its history, which a step does not keep.
                try:
                    code = shell.transform_cell(runner._source)
                    return bool(self.semicolon_at_end_of_expression(code))
                except Exception:
                    return False

            def write_output_prompt(self) -> None:
                pass

            def write_format_data(self, format_dict: Any, md_dict: Any = None) -> None:
                runner._outputs.add(
                    {
                        "output_type": "execute_result",
                        "execution_count": runner._count,
                        "data": _jsonable_bundle(format_dict),
                        "metadata": md_dict or {},
                    }
                )

            def finish_displayhook(self) -> None:
                pass

        class Publisher(DisplayPublisher):
            def publish(
                self,
                data: Any,
                metadata: Any = None,
                source: Any = None,
                *,
                transient: Any = None,
                update: bool = False,
                **kwargs: Any,
            ) -> None:
                runner._outputs.add(
                    {
                        "output_type": "display_data",
                        "data": _jsonable_bundle(data),
                        "metadata": metadata or {},
                    }
                )

            def clear_output(self, wait: bool = False) -> None:
                runner._outputs.items.clear()

        hook = Hook(shell=shell, cache_size=1000)
        shell.displayhook = hook
        shell.display_trap.hook = hook
        shell.display_pub = Publisher(shell=shell)

    def _install_system(self) -> None:
        """``!cmd`` output lands in the cell's stdout."""
        shell = self.shell

        def system(cmd: str) -> None:
            # `!cmd` through pipes, not a pty (IPython's default): output lines end in "\n"
            # as in Jupyter, and land in the cell's captured stdout.
            import subprocess

            proc = subprocess.Popen(
                shell.var_expand(cmd, depth=1),
                shell=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
            shell.user_ns["_exit_code"] = proc.wait()

        shell.system = system

    # -- running ----------------------------------------------------------------------------
    def run(self, index: int, source: str) -> CellResult:
        """Run one cell; never raises for user errors (see ``CellResult.error``)."""
        self._cell_index = index
        self._source = source
        self._count += 1
        self._outputs = _Outputs()
        self._exec_error = None
        result = CellResult(index=index, source=source, execution_count=self._count)
        real_out, real_err = sys.stdout, sys.stderr
        sys.stdout = _Stream("stdout", self._outputs, real_out)
        sys.stderr = _Stream("stderr", self._outputs, real_err)
        start = time.perf_counter()
        try:
            self.shell.execution_count = self._count
            res = self.shell.run_cell(source, store_history=False, silent=False)
        finally:
            try:
                sys.stdout.flush()
            finally:
                sys.stdout, sys.stderr = real_out, real_err
        result.seconds = time.perf_counter() - start
        exc = res.error_before_exec or res.error_in_exec
        if isinstance(exc, SystemExit) and exc.code in (None, 0, ""):
            # As in a kernel (and for papermill) a clean sys.exit() is shown, not a failure.
            self._outputs.add(
                {
                    "output_type": "error",
                    "ename": "SystemExit",
                    "evalue": str(exc.code or ""),
                    "traceback": [],
                }
            )
            exc = None
        if exc is not None:
            if isinstance(exc, SyntaxError) or res.error_before_exec is not None:
                tb = "".join(traceback.format_exception_only(type(exc), exc))
            else:
                tb = user_traceback(exc, {f"{CELL_PREFIX}{index}>": source})
            result.error = CellError(
                cell=index,
                exc_type=type(exc).__name__,
                message=str(exc),
                traceback=tb,
                exception=exc,
            )
            self._outputs.add(
                {
                    "output_type": "error",
                    "ename": type(exc).__name__,
                    "evalue": str(exc),
                    "traceback": tb.rstrip("\n").split("\n"),
                }
            )
        result.outputs = self._outputs.items
        return result

    def close(self) -> None:
        """Flush inline figures and give ``__main__`` back (the namespace stays usable)."""
        if self._saved_main is not None:
            sys.modules["__main__"] = self._saved_main


_SHELL: Any = None


def _inline_plots(shell: Any) -> None:
    """Plots as ``image/png`` outputs in a process that imported matplotlib before the step
    (an in-process run): matplotlib read ``MPLBACKEND`` at that import, and the inline
    backend hooks itself into a shell only when first imported as the backend."""
    with contextlib.suppress(Exception):
        import matplotlib
        from matplotlib_inline import backend_inline

        matplotlib.use(_INLINE_BACKEND, force=True)
        # It selects the figure formats once per process; this shell needs them too.
        backend_inline.configure_inline_support.current_backend = "other"  # type: ignore[attr-defined]
        backend_inline.configure_inline_support(shell, _INLINE_BACKEND)


def _shell(main: types.ModuleType) -> Any:
    """The process's one InteractiveShell, re-pointed at a fresh user module."""
    global _SHELL
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if _SHELL is None:
        cfg = Config()
        # No history database: a step process is short-lived and may run where $HOME is
        # read-only; sqlite start-up would only cost time.
        cfg.HistoryManager.enabled = False
        cfg.InteractiveShell.colors = "nocolor"
        cfg.InteractiveShell.autocall = 0
        if InteractiveShell.initialized():
            # Called from inside a running IPython/Jupyter session: never take over the
            # user's shell (and namespace); run the step in a shell of its own.
            _SHELL = InteractiveShell(config=cfg, user_module=main)
        else:
            _SHELL = InteractiveShell.instance(config=cfg, user_module=main)
    else:
        _SHELL.init_create_namespaces(user_module=main)
        _SHELL.init_user_ns()
    # Each step starts from a clean slate even when several run in one process (tests).
    main.__dict__.setdefault("__builtins__", __builtins__)
    return _SHELL
