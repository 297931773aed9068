"""Cell source -> ``ast.Module``, with IPython magics and shell lines turned into calls.

IPython's transformer is only imported for cells that plain ``ast.parse`` rejects (every
magic, ``!`` line and ``?`` help is a syntax error in plain Python), because importing
IPython costs about 0.3 s.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from ..errors import AnalysisError


@lru_cache(maxsize=1)
def _transformer() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def transform(source: str) -> str:
    """IPython's own rewrite of magics/shell lines into ``get_ipython()`` calls."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns on odd line endings; we only parse
        return str(_transformer().transform_cell(source))


def parse_cell(source: str, cell: int | None = None, tag: str | None = None) -> ast.Module:
    """Parse one code cell; raise ``AnalysisError(kind="syntax-error")`` with cell and line."""
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    try:
        return ast.parse(text)
    except SyntaxError as first:
        error: SyntaxError = first
    except ValueError as exc:  # null bytes
        raise AnalysisError(
            f"cannot parse the cell: {exc}", kind="syntax-error", cell=cell, tag=tag
        ) from None
    except (RecursionError, MemoryError):
        raise AnalysisError(
            "cannot parse the cell: it is nested too deeply",
            kind="syntax-error",
            cell=cell,
            line=1,
            tag=tag,
        ) from None
    # The transformer drops leading blank lines; keep line numbers those of the cell.
    lines = text.split("\n")
    blank = 0
    while blank < len(lines) - 1 and not lines[blank].strip():
        blank += 1
    try:
        transformed = transform("\n".join(lines[blank:]))
    except Exception:  # the transformer is best effort; fall back to the plain error
        transformed = None
    if transformed is not None and transformed != text:
        try:
            module = ast.parse(transformed)
        except SyntaxError as exc:
            if exc.lineno:
                exc.lineno += blank
            error = exc
        except ValueError:
            pass
        else:
            return ast.increment_lineno(module, blank) if blank else module
    raise syntax_error(error, text, cell, tag) from None


def syntax_error(
    exc: SyntaxError, text: str, cell: int | None, tag: str | None, line_offset: int = 0
) -> AnalysisError:
    line = (exc.lineno or 1) + line_offset
    lines = text.splitlines()
    quoted = lines[line - 1].strip() if 0 < line <= len(lines) else (exc.text or "").strip()
    return AnalysisError(
        f"syntax error: {exc.msg}" + (f" in `{quoted[:120]}`" if quoted else ""),
        kind="syntax-error",
        cell=cell,
        line=line,
        tag=tag,
        fix="fix the Python syntax, or tag the cell `skip` to leave it out of the pipeline",
    )


def parse_snippet(code: str) -> ast.Module | None:
    """Parse Python code carried inside a magic (``%time x = 1``); None if not Python."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        pass
    # `%timeit -n 3 x = 1`: drop leading options.
    words = code.split()
    while words and words[0].startswith("-"):
        words = words[1:]
        if words and not words[0].startswith("-") and words[0].isdigit():
            words = words[1:]
    try:
        return ast.parse(" ".join(words)) if words else None
    except (SyntaxError, ValueError):
        return None
