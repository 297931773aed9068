"""Python literals for JSON-compatible values, laid out for reading.

Everything the user wrote reaches the generated file through :func:`render_literal`, which
only ever emits ``repr`` of str/int/float/bool/None inside list and dict displays, so no
value can close a string early or add a statement (``ast.literal_eval`` reads it back).
"""

from __future__ import annotations

import math
from typing import Any

WIDTH = 92  # soft line width of the generated file
INDENT = "    "


# Deepest list/dict nesting a value may have. Python's parser refuses source nested ~200
# deep and the generated module adds levels around a value; KFP's protobuf Struct stops at
# 100. No real parameter default comes near this.
MAX_NESTING = 50


def check_literal(value: Any, where: str = "value", depth: int = 0) -> None:
    """Raise ``ValueError`` unless ``value`` is JSON-compatible (finite floats, str keys)
    and nested at most :data:`MAX_NESTING` lists/dicts deep."""
    if depth > MAX_NESTING:
        raise ValueError(
            f"{where.split('[', 1)[0]}: the value is nested more than {MAX_NESTING} lists/dicts "
            "deep; flatten it or build it inside a step"
        )
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_literal(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: dict key {key!r} is not a string")
            check_literal(item, f"{where}[{key!r}]", depth + 1)
        return
    raise ValueError(f"{where}: {type(value).__name__} is not a JSON-compatible value")


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))  # int subclasses (IntEnum) would repr as a name
    if isinstance(value, float):
        return repr(float(value))
    return repr(str(value))


def inline(value: Any) -> str:
    """One-line literal."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(str(k))}: {inline(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def render_literal(value: Any, indent: int = 0, *, prefix_len: int = 0) -> str:
    """A literal for ``value``; continuation lines are indented ``indent`` levels.

    ``prefix_len`` is the width of the text before the literal on its first line, so
    short values stay on one line.
    """
    check_literal(value)
    return _render(value, indent, prefix_len)


def triple_quoted(text: str) -> str:
    """A ``'''...'''`` literal showing ``text`` line by line, as the user wrote it.

    Safe by construction: every quote and backslash is escaped (so the literal cannot end
    early) and every non-printable character, including ``\\r`` (which the parser would turn
    into ``\\n``) and Unicode line separators, is written as an escape sequence.
    """
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n" or ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "'''" + "".join(out) + "'''"


def _has_multiline(value: Any) -> bool:
    """Multi-line strings (cell sources) always print as triple-quoted blocks."""
    if isinstance(value, str):
        return len(value.splitlines()) > 1
    if isinstance(value, (list, tuple)):
        return any(_has_multiline(v) for v in value)
    if isinstance(value, dict):
        return any(_has_multiline(v) for v in value.values())
    return False


def _render(value: Any, indent: int, prefix_len: int) -> str:
    one_line = inline(value)
    pad = INDENT * indent
    if len(pad) + prefix_len + len(one_line) <= WIDTH and not _has_multiline(value):
        return one_line
    inner = INDENT * (indent + 1)
    if isinstance(value, str):
        if len(value.splitlines()) <= 1:
            return one_line  # a long single line: splitting it would not help reading
        return triple_quoted(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [inner + _render(v, indent + 1, 0) + "," for v in value]
        return "[\n" + "\n".join(items) + "\n" + pad + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = []
        for key, item in value.items():
            key_text = _scalar(str(key)) + ": "
            items.append(inner + key_text + _render(item, indent + 1, len(key_text)) + ",")
        return "{\n" + "\n".join(items) + "\n" + pad + "}"
    return one_line
