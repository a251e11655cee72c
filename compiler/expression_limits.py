"""Limits on config expressions: how long and how deep they may be, and which constants are too big.

Python's own parser and ``ast.unparse`` recurse over an expression's tree, so a very long
or deeply nested expression is refused before they see it. A constant sub-expression is
evaluated here, step by step, with each step's size estimated first: ``10 ** 10 ** 10`` or
``'x' * 10 ** 9`` would never finish (or fill the memory) in every record's evaluation, so
it is refused at compile time, pointing at the sub-expression. What depends on a field's
value (``price ** size``, ``symbol * size``) cannot be bounded here: a record whose evaluation
raises is set aside by the fused loop, and one that computes for too long is ended by the
job's stop deadlines, like any push that does not return.
"""

from __future__ import annotations

import ast
import math
import operator
import re

MAX_EXPRESSION_CHARS = 10_000
MAX_EXPRESSION_DEPTH = 100
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
MAX_SEQUENCE_ITEMS = 100_000  # characters of a string, items of a tuple or list
MAX_EXPONENT = 10_000  # for a base that is not a constant
MAX_FORMAT_WIDTH = 1_000  # a width or precision in a format, the digits of round()

Problem = tuple[ast.AST, str, str]
"""(sub-expression, message, hint) of an expression that is refused."""

_UNKNOWN = object()  # the value of a sub-expression that reads a field
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
_BUILTINS = {"abs": abs, "bool": bool, "float": float, "int": int, "len": len, "max": max, "min": min,
             "round": round, "str": str}  # fmt: skip
_NUMBER = re.compile(r"\d+")
_PERCENT_NUMBERS = re.compile(r"%[#0\- +]*(\d*)(?:\.(\d*))?")


def too_long(text: str) -> str | None:
    """The message for an expression longer than :data:`MAX_EXPRESSION_CHARS`, else None."""
    if len(text) > MAX_EXPRESSION_CHARS:
        return f"the expression is {len(text):,} characters long; the limit is {MAX_EXPRESSION_CHARS:,}"
    return None


def too_deep(tree: ast.AST) -> Problem | None:
    """The first sub-expression nested deeper than :data:`MAX_EXPRESSION_DEPTH`, if any.

    Walks with an explicit stack, so any depth is measured without recursing; operators and
    contexts, which have no position to point at, do not count as levels.

    >>> too_deep(ast.parse("a + b + c", mode="eval").body) is None
    True
    >>> too_deep(ast.parse(" + ".join(["a"] * 200), mode="eval").body)[1]
    'the expression is nested more than 100 levels deep'
    """
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            return (
                node,
                f"the expression is nested more than {MAX_EXPRESSION_DEPTH} levels deep",
                (
                    "each operator, call or bracket adds a level; a sum of many terms nests once per '+': "
                    "split the work over several map and filter nodes"
                ),
            )
        children = [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
        stack.extend((child, depth + 1) for child in reversed(children))  # leftmost first
    return None


class _Refused(Exception):
    def __init__(self, node: ast.AST, message: str, hint: str) -> None:
        super().__init__(message)
        self.problem = (node, message, hint)


def unbounded(tree: ast.AST) -> Problem | None:
    """The first constant sub-expression whose evaluation would take unbounded time or memory.

    ``tree`` has passed the expression allow-list and :func:`too_deep`.

    >>> unbounded(ast.parse("price * 2 ** 10 > 0", mode="eval").body) is None
    True
    >>> node, message, hint = unbounded(ast.parse("10 ** 10 ** 10 > 0", mode="eval").body)
    >>> ast.unparse(node), message
    ('10 ** 10 ** 10', 'this power has about 10,000,000,001 digits, too many to compute')
    """
    try:
        _fold(tree)
    except _Refused as exc:
        return exc.problem
    return None


def _fold(node: ast.AST) -> object:
    """The value of a constant sub-expression, or ``_UNKNOWN``; raises :class:`_Refused`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp):
        return _fold_binary(node, _fold(node.left), _fold(node.right))
    if isinstance(node, ast.UnaryOp):
        return _apply(node, _UNARY[type(node.op)], _fold(node.operand))
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_fold(item) for item in node.elts]
        kind = {ast.Tuple: tuple, ast.List: list, ast.Set: frozenset}[type(node)]
        return _UNKNOWN if _UNKNOWN in items else _apply(node, kind, items)
    if isinstance(node, ast.Compare):
        values = [_fold(node.left)] + [_fold(item) for item in node.comparators]
        if _UNKNOWN in values:
            return _UNKNOWN
        pairs = zip(node.ops, values, values[1:])
        return _apply(node, lambda: all(_COMPARE[type(op)](a, b) for op, a, b in pairs))
    if isinstance(node, ast.BoolOp):
        values = [_fold(item) for item in node.values]
        if _UNKNOWN in values:
            return _UNKNOWN
        pick = (lambda v: not v) if isinstance(node.op, ast.And) else bool
        return next((v for v in values[:-1] if pick(v)), values[-1])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _fold(node.test), _fold(node.body), _fold(node.orelse)
        return _UNKNOWN if test is _UNKNOWN else (body if test else orelse)
    if isinstance(node, ast.Call):
        return _fold_call(node)
    if isinstance(node, ast.FormattedValue):
        _fold(node.value)
        if node.format_spec is not None:
            _check_format_spec(node.format_spec)
        return _UNKNOWN
    if isinstance(node, ast.Subscript):
        value, key = _fold(node.value), _fold(node.slice)
        return _UNKNOWN if _UNKNOWN in (value, key) else _apply(node, operator.getitem, value, key)
    if isinstance(node, ast.Slice):
        parts = [None if part is None else _fold(part) for part in (node.lower, node.upper, node.step)]
        return _UNKNOWN if _UNKNOWN in parts else slice(*parts)
    for child in ast.iter_child_nodes(node):  # names, dicts, f-strings: checked, never folded
        _fold(child)
    return _UNKNOWN


def _apply(node: ast.AST, function, *args) -> object:
    """``function(*args)`` for operands already known to be small; a result too big is refused,
    and one that raises is left for run time (``_UNKNOWN``)."""
    if _UNKNOWN in args:
        return _UNKNOWN
    try:
        value = function(*args)
    except (ArithmeticError, ValueError, TypeError, IndexError, KeyError):
        return _UNKNOWN
    _check_size(node, value)
    return value


def _check_size(node: ast.AST, value: object) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _Refused(
            node,
            f"this constant has {_about(value.bit_length() * math.log10(2))} digits, too many",
            _INT_HINT,
        )
    if isinstance(value, (str, bytes, tuple, list, frozenset)) and len(value) > MAX_SEQUENCE_ITEMS:
        raise _Refused(node, f"this constant has {len(value):,} items, too many", _SEQUENCE_HINT)


def _about(digits: float) -> str:
    """A (real-valued) count of digits, written for a message."""
    return f"about {int(digits) + 1:,}" if digits < 1e18 else "more than 10**18"


def _shown(number: int) -> str:
    """An integer for a message, with thousands separators; a huge one as a power of two."""
    return f"{number:,}" if number.bit_length() <= 64 else f"2**{number.bit_length() - 1}"


_INT_HINT = f"constant integers are limited to {MAX_INT_BITS:,} bits (about {int(MAX_INT_BITS * math.log10(2)):,} digits)"
_SEQUENCE_HINT = f"constant strings, tuples and lists are limited to {MAX_SEQUENCE_ITEMS:,} items"


def _is_int(value: object) -> bool:
    return isinstance(value, int)


def _fold_binary(node: ast.BinOp, left: object, right: object) -> object:
    """Refuse what a binary operator would make too big, before making it."""
    op = type(node.op)
    if op is ast.Pow and _is_int(right) and right > MAX_EXPONENT and left is _UNKNOWN:
        raise _Refused(
            node,
            f"the exponent {_shown(right)} is too large",
            f"a power of a field's value may take unbounded time; exponents are limited to {MAX_EXPONENT:,}",
        )
    if op is ast.Pow and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        digits = right * math.log10(abs(left)) if right.bit_length() < 1000 else math.inf
        if digits > MAX_INT_BITS * math.log10(2):
            raise _Refused(node, f"this power has {_about(digits)} digits, too many to compute", _INT_HINT)
    if op is ast.Mult and _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise _Refused(node, "this product has too many digits to compute", _INT_HINT)
    if op is ast.Mult:
        sequence, count = (left, right) if _is_int(right) else (right, left)
        if isinstance(sequence, (str, bytes, tuple, list)) and _is_int(count):
            if len(sequence) * count > MAX_SEQUENCE_ITEMS:
                raise _Refused(
                    node,
                    f"this repetition makes {_shown(len(sequence) * count)} items, too many",
                    _SEQUENCE_HINT,
                )
    if op is ast.Mod and isinstance(left, str):
        _check_widths(node, left, _PERCENT_NUMBERS)
    return _apply(node, _BINARY[op], left, right)


def _fold_call(node: ast.Call) -> object:
    """A call to a safe builtin or math function on constants; round's digits are bounded."""
    args = [_fold(arg) for arg in node.args]
    func = node.func
    if isinstance(func, ast.Name) and func.id == "round" and len(args) == 2 and _is_int(args[1]):
        if abs(args[1]) > MAX_FORMAT_WIDTH:
            raise _Refused(
                node,
                f"round to {_shown(args[1])} digits is too many",
                f"round() takes at most {MAX_FORMAT_WIDTH:,} digits either way",
            )
    if isinstance(func, ast.Name) and func.id in _BUILTINS:
        return _apply(node, _BUILTINS[func.id], *args)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math":
        return _apply(node, getattr(math, func.attr), *args)
    return _UNKNOWN  # record.get(...)


def _check_format_spec(spec: ast.JoinedStr) -> None:
    """An f-string's format spec (``{price:>10}``) may not ask for a huge width or precision."""
    for part in spec.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            _check_widths(spec, part.value)
        elif isinstance(part, ast.FormattedValue):
            value = _fold(part.value)
            if _is_int(value) and abs(value) > MAX_FORMAT_WIDTH:
                raise _Refused(part, f"a format width of {_shown(value)} is too large", _WIDTH_HINT)


def _check_widths(node: ast.AST, text: str, numbers: re.Pattern = _NUMBER) -> None:
    """Refuse a width or precision in ``text`` (the numbers ``numbers`` finds) above the limit."""
    for match in numbers.finditer(text):
        for number in match.groups() or (match.group(),):
            if number and (len(number) > len(str(MAX_FORMAT_WIDTH)) or int(number) > MAX_FORMAT_WIDTH):
                shown = number if len(number) <= 20 else number[:20] + "..."
                raise _Refused(node, f"a format width of {shown} is too large", _WIDTH_HINT)


_WIDTH_HINT = f"widths and precisions in a format are limited to {MAX_FORMAT_WIDTH:,}"
