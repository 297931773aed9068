"""Cell-by-cell execution in a Jupyter kernel, as papermill's default engine does it.

This is the engine's conformant path (see :mod:`kale_like.papermill_engine`): every cell runs
in a kernel through nbclient, so outputs, error outputs (IPython's ``Cell In[k]`` tracebacks),
stream chunks, execution counts (none for empty cells) and kernel errors (an unknown ``-k``
raises ``NoSuchKernel``) are exactly a kernel's. papermill's execution manager (``nb_man``)
is told about every cell as it starts, fails and completes, and about every kernel message,
so progress, ``--log-output``, ``--stdout-file``/``--stderr-file``, durations,
``--request-save-on-cell-execute`` and ``--autosave-cell-every`` behave as papermill's own.
"""

from __future__ import annotations

import logging
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import Any as AnyTrait
from traitlets import Bool

log = logging.getLogger("papermill")

# Keyword arguments papermill hands every engine that are not NotebookClient settings.
_NOT_CLIENT = {"input_path", "timeout", "startup_timeout", "jobs", "use_cache"}


class CellByCellClient(NotebookClient):
    """An nbclient client that reports each cell to papermill's execution manager."""

    log_output = Bool(False, help="log stream and text outputs as they arrive").tag(config=True)
    stdout_file = AnyTrait(None, help="file object that receives stdout stream text")
    stderr_file = AnyTrait(None, help="file object that receives stderr stream text")

    def __init__(self, nb_man: Any, **kwargs: Any) -> None:
        super().__init__(nb_man.nb, **kwargs)
        self.nb_man = nb_man

    def run(self) -> Any:
        """Execute every cell in order; stop after the first failing one (the notebook keeps it)."""
        self.reset_execution_trackers()
        with self.setup_kernel():
            self.log.info("Executing notebook with kernel: %s", self.kernel_name)
            self._run_cells()
            assert self.kc is not None  # setup_kernel started one
            info = self.wait_for_reply(self.kc.kernel_info())
            if info is not None:
                self.nb.metadata["language_info"] = info["content"]["language_info"]
            self.set_widgets_metadata()
        return self.nb

    def _run_cells(self) -> None:
        for index, cell in enumerate(self.nb.cells):
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except CellExecutionError as err:
                # Not re-raised: papermill marks the cell, saves, then raises its own error
                # (PapermillExecutionError) from the error output once the run is over.
                # A timeout or a dead kernel is not a CellExecutionError: it propagates.
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=err)
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)

    def process_message(self, *args: Any, **kwargs: Any) -> Any:
        output = super().process_message(*args, **kwargs)
        # Every kernel message is a chance to save a long-running cell's partial outputs.
        self.nb_man.autosave_cell()
        if output is not None and (self.log_output or self.stdout_file or self.stderr_file):
            echo_output(output, self.log, self.log_output, self.stdout_file, self.stderr_file)
        return output


def echo_output(
    output: Any, logger: Any, log_output: bool, stdout_file: Any, stderr_file: Any
) -> None:
    """Send one output to the log and/or the --stdout-file/--stderr-file as it arrives."""
    if output.get("output_type") == "stream":
        text = "".join(output.get("text", ""))
        stderr = output.get("name") == "stderr"
        if log_output:
            # stderr goes to the warning level so users can route it apart.
            (logger.warning if stderr else logger.info)(text)
        sink = stderr_file if stderr else stdout_file
        if sink:
            sink.write(text)
            sink.flush()
    elif log_output and "text/plain" in output.get("data", {}):
        logger.info("".join(output["data"]["text/plain"]))


def client_kwargs(kernel_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """NotebookClient settings from papermill's engine keyword arguments.

    ``execution_timeout`` wins over a bare ``timeout``; ``start_timeout`` is the kernel
    start-up limit; other keywords are passed on only when they are client settings, so an
    engine-specific option (``jobs``) never reaches nbclient.
    """
    names = set(CellByCellClient.class_trait_names())
    out = {k: v for k, v in options.items() if k in names and k not in _NOT_CLIENT}
    out.update(
        timeout=options.get("execution_timeout") or options.get("timeout"),
        startup_timeout=options.get("start_timeout", 60),
        kernel_name=kernel_name,
        log=log,
        log_output=bool(options.get("log_output", False)),
        stdout_file=options.get("stdout_file"),
        stderr_file=options.get("stderr_file"),
    )
    return out


def execute_in_kernel(nb_man: Any, kernel_name: str, options: dict[str, Any]) -> Any:
    """Run ``nb_man.nb`` cell by cell in a ``kernel_name`` kernel (papermill's semantics)."""
    return CellByCellClient(nb_man, **client_kwargs(kernel_name, options)).run()
