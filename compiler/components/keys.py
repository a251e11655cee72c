"""Code for key functions: a C-speed ``itemgetter`` for a field, a lambda for an expression."""

from __future__ import annotations

import ast

from ..expressions import Expression, render
from .base import Code


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
    """
    body = expr.body
    if isinstance(body, ast.Name) or (
        isinstance(body, ast.Subscript) and expr.record_name and len(expr.fields) == 1
    ):
        return Code(f"itemgetter({expr.fields[0].name!r})", ("from operator import itemgetter",))
    code = render(expr, lambda name, default=None: field_read("r", name, default), ast.Name("r", ast.Load()))
    return Code(f"lambda r: {code}", ("import math",) if expr.uses_math else ())
