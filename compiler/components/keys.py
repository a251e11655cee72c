"""Code for key functions: a C-speed ``itemgetter`` for a field, a lambda for an expression."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..expressions import Expression, render
from .base import Code

_OPTIONAL: ContextVar[frozenset[str]] = ContextVar("optional_fields", default=frozenset())


@contextmanager
def optional_fields(names: Iterable[str]) -> Iterator[None]:
    """While a node's code is generated: the fields its input may lack. Key functions read
    those with ``.get`` (None when absent) instead of failing on records without them."""
    token = _OPTIONAL.set(frozenset(names))
    try:
        yield
    finally:
        _OPTIONAL.reset(token)


def field_read(record: str, name: str, default: ast.expr | None = None) -> ast.expr:
    """The tree of ``record[name]`` (or ``record.get(name, default)``), the name as a literal."""
    base = ast.Name(record, ast.Load())
    if default is not None:
        return ast.Call(ast.Attribute(base, "get", ast.Load()), [ast.Constant(name), default], [])
    return ast.Subscript(base, ast.Constant(name), ast.Load())


def key_code(expr: Expression) -> Code:
    """Code for a function of a record that returns its key.

    >>> from compiler.expressions import parse_expression
    >>> key_code(parse_expression("symbol")).text
    "itemgetter('symbol')"
    >>> key_code(parse_expression("(symbol, price)")).text
    "lambda r: (r['symbol'], r['price'])"
    >>> key_code(parse_expression("lambda x: x['symbol'][0]")).text
    "lambda r: r['symbol'][0]"
    >>> with optional_fields(["bid"]):
    ...     key_code(parse_expression("(symbol, bid)")).text
    "lambda r: (r['symbol'], r.get('bid', None))"
    """
    optional = _OPTIONAL.get()
    body = expr.body
    plain = isinstance(body, ast.Name) or (
        isinstance(body, ast.Subscript)
        and isinstance(body.value, ast.Name)
        and body.value.id == expr.record_name
        and isinstance(body.slice, ast.Constant)
    )
    if plain and expr.fields[0].name not in optional:
        return Code(f"itemgetter({expr.fields[0].name!r})", ("from operator import itemgetter",))

    def read(name: str, default: ast.expr | None = None) -> ast.expr:
        if default is None and name in optional:
            default = ast.Constant(None)
        return field_read("r", name, default)

    code = render(expr, read, ast.Name("r", ast.Load()))
    return Code(f"lambda r: {code}", ("import math",) if expr.uses_math else ())
