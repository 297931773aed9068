"""Strict JSON for everything the tool hands to others (CLI ``--json``, REST, run records).

Python's :mod:`json` writes ``NaN``/``Infinity`` for non-finite floats, which no other JSON
parser accepts (``JSON.parse`` in the lab fails, so one NaN metric broke every later poll of
the job list). Here they become ``null``, as JavaScript's ``JSON.stringify`` does; reading
an old record that holds them still works because Python's reader is lenient.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "finite"]


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (also inside dicts/lists/tuples) as ``None``.

    Other objects are returned untouched (a ``default=`` of :func:`dumps` handles them).
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """:func:`json.dumps` that never writes ``NaN``/``Infinity`` (they become ``null``)."""
    default = kwargs.pop("default", None)

    def safe_default(obj: Any) -> Any:
        # What ``default`` makes of an odd object (a numpy float, say) is cleaned as well.
        if default is None:
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
        return finite(default(obj))

    return json.dumps(finite(value), allow_nan=False, default=safe_default, **kwargs)
