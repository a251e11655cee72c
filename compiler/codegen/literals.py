"""Python literals for config values: every config string reaches generated code via ``repr``."""

from __future__ import annotations

import math

from ..components import Code


def py_literal(value: object) -> str:
    """Source text that evaluates to ``value`` (str, number, bool, None, tuple, list, dict, Code).

    >>> py_literal(('a"b', 1.5, None))
    '(\\'a"b\\', 1.5, None)'
    >>> py_literal(60_000_000_000)
    '60_000_000_000'
    >>> py_literal(float("inf"))
    "float('inf')"
    """
    if isinstance(value, Code):
        return value.text
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(value)!r})"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 100_000:
        return f"{value:_}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def comment_text(text: object) -> str:
    """Text safe inside a ``#`` comment: line breaks and other control characters escaped.

    >>> comment_text("a\\nb")
    'a\\\\nb'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def call(func: str, *args: object, **kwargs: object) -> str:
    """Source text of a call with literal arguments."""
    parts = [py_literal(a) if not isinstance(a, _Raw) else a.text for a in args]
    parts += [f"{k}={py_literal(v)}" for k, v in kwargs.items()]
    return f"{func}({', '.join(parts)})"


class _Raw:
    """A name to pass through :func:`call` unquoted (an identifier the compiler chose)."""

    def __init__(self, text: str) -> None:
        self.text = text


def raw(text: str) -> _Raw:
    """Mark a compiler-chosen identifier to be written as is by :func:`call`."""
    return _Raw(text)
