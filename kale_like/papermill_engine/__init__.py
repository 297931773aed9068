"""papermill engine ``kale_like``: ``papermill -E kale_like in.ipynb out.ipynb -p alpha 0.5``.

papermill parameterizes the notebook as usual (an ``injected-parameters`` cell after the
``parameters`` cell, which the analysis treats as overriding the defaults); this engine then
runs it either as a cached, parallel pipeline (:mod:`.pipeline`) or cell by cell in a kernel
exactly as papermill's default engine does (:mod:`.kernel`). :mod:`.engine` holds the class
papermill calls, :mod:`.mode` the rule that picks one; when the analysis refuses a notebook,
it runs in the kernel and the analysis' message is logged as a warning. Either way the
output notebook, its ``papermill`` metadata and the ``PapermillExecutionError`` raised for a
failing cell are papermill's.

``KALE_LIKE_PAPERMILL_DEFAULT=1`` in the environment makes this engine papermill's default
(for tools that call papermill without an engine name).
"""

from .engine import KaleLikeEngine
from .mode import Choice, cache_enabled, choose

__all__ = ["KaleLikeEngine", "Choice", "cache_enabled", "choose"]
