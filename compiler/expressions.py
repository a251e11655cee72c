"""Config expressions: parsed with ``ast``, checked against an allow-list, rendered as code.

An expression reads record fields by bare name (``price * size``) or, in the seed style, through
a one-argument lambda (``lambda x: x['price'] * x['size']``). Only arithmetic, comparisons,
boolean logic, conditionals, literals, field access, a few safe builtins and ``math`` functions
are accepted; anything else is a compile error. Code is produced by rebuilding the checked tree
with ``ast.unparse``, so no text from a config is ever pasted into generated code.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from .expression_limits import too_deep, too_long, unbounded

SAFE_FUNCTIONS = frozenset({"abs", "bool", "float", "int", "len", "max", "min", "round", "str"})
MATH_FUNCTIONS = frozenset(
    {"ceil", "exp", "fabs", "floor", "isfinite", "isnan", "log", "log10", "sqrt", "trunc"}
)
_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip
_PLAIN_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp,
    ast.Tuple, ast.List, ast.Set, ast.Dict, ast.JoinedStr, ast.FormattedValue, ast.Load,
)  # fmt: skip
_CONSTANT_TYPES = (str, int, float, bool, type(None))


class ExpressionError(Exception):
    """An expression that does not parse or leaves the allow-list, with its column range."""

    def __init__(self, message: str, col: int = 0, end_col: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.col = col
        self.end_col = end_col if end_col is not None else col + 1
        self.hint = hint


@dataclass(frozen=True)
class FieldRef:
    """One field that an expression reads, with its column range in the expression text."""

    name: str
    col: int
    end_col: int


@dataclass
class Expression:
    """A checked expression: its tree (the lambda's body, if any) and the fields it reads."""

    text: str
    body: ast.expr
    record_name: str | None
    fields: list[FieldRef] = field(default_factory=list)
    uses_math: bool = False
    reads_whole_record: bool = False

    def field_names(self) -> list[str]:
        """Names of the fields read, in first-use order, without repeats."""
        return list(dict.fromkeys(f.name for f in self.fields))


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` if it is not allowed.

    >>> parse_expression("price * size >= 500").field_names()
    ['price', 'size']
    >>> parse_expression("lambda x: x['symbol']").field_names()
    ['symbol']
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    compiler.expressions.ExpressionError: call to '__import__' is not allowed
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expression is empty")
    if "\n" in text.strip():
        raise ExpressionError("an expression must fit on one line")
    offset = len(text) - len(text.lstrip())
    stripped = text.strip()
    long = too_long(stripped)
    if long is not None:
        raise ExpressionError(
            long, offset, offset + len(stripped), "split the work over several map and filter nodes"
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(stripped, exc, offset) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(
            "the expression is nested too deeply to read",
            offset,
            hint="split the work over several map and filter nodes",
        ) from None
    body, record_name = tree.body, None
    if isinstance(body, ast.Lambda):
        args = body.args
        if args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg or len(args.args) != 1:
            raise ExpressionError("a lambda must take exactly one argument, the record", body.col_offset)
        record_name, body = args.args[0].arg, body.body
    expr = Expression(text=text, body=body, record_name=record_name)
    checker = _Checker(expr, offset)
    deep = too_deep(body)
    if deep is not None:
        raise checker._error(*deep)
    checker.visit(body)
    huge = unbounded(body)
    if huge is not None:
        raise checker._error(*huge)
    return expr


_NODE_NAMES = {
    "ListComp": "a list comprehension", "SetComp": "a set comprehension", "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator expression", "NamedExpr": "an assignment expression (:=)",
    "Lambda": "a lambda inside an expression", "Await": "await", "Yield": "yield", "YieldFrom": "yield from",
    "Starred": "* unpacking", "MatMult": "the @ operator", "BitAnd": "the & operator", "BitOr": "the | operator",
    "BitXor": "the ^ operator", "LShift": "the << operator", "RShift": "the >> operator", "Invert": "the ~ operator",
}  # fmt: skip


def _char_col(text: str, byte_col: int) -> int:
    """Character column of a UTF-8 byte offset that ``ast`` reports."""
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _syntax_error(text: str, exc: SyntaxError, offset: int) -> ExpressionError:
    """An ExpressionError at the column the syntax error really is (the end, for a cut-short one)."""
    col = (exc.offset or 1) - 1
    if col <= 0 and exc.msg == "invalid syntax":
        try:  # in eval mode Python reports a cut-short expression at column 0; exec mode knows better
            ast.parse(text, mode="exec")
        except SyntaxError as again:
            col = (again.offset or 1) - 1
        if col >= len(text):
            return ExpressionError(
                "the expression ends too early", offset + len(text), hint="something is missing at its end"
            )
    return ExpressionError(f"invalid expression: {exc.msg}", offset + max(col, 0))


class _Checker(ast.NodeVisitor):
    """Walks an expression tree, rejecting what is not allowed and collecting field reads."""

    def __init__(self, expr: Expression, offset: int) -> None:
        self.expr = expr
        self.offset = offset

    def _cols(self, node: ast.AST) -> tuple[int, int | None]:
        source = self.expr.text.strip()
        col = _char_col(source, getattr(node, "col_offset", 0)) + self.offset
        end = getattr(node, "end_col_offset", None)
        return col, (_char_col(source, end) + self.offset) if end is not None else None

    def _error(self, node: ast.AST, message: str, hint: str | None = None) -> ExpressionError:
        col, end = self._cols(node)
        return ExpressionError(message, col, end, hint)

    def _field(self, name: str, node: ast.AST) -> None:
        col, end = self._cols(node)
        self.expr.fields.append(FieldRef(name, col, end))

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, _OPERATORS):
            return
        if not isinstance(node, _PLAIN_NODES):
            name = _NODE_NAMES.get(type(node).__name__, type(node).__name__.lower())
            raise self._error(
                node,
                f"{name} is not allowed in an expression",
                "expressions may use fields, literals, arithmetic, comparisons, "
                "and/or/not, 'x if c else y', math.* and abs/min/max/round/int/float/str/len/bool",
            )
        super().generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._operator(node, node.op)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        self._operator(node, node.op)
        self.generic_visit(node)

    def _operator(self, node: ast.AST, op: ast.AST) -> None:
        if not isinstance(op, _OPERATORS):
            name = _NODE_NAMES.get(type(op).__name__, type(op).__name__)
            raise self._error(
                node, f"{name} is not allowed in an expression", "use arithmetic, comparisons and and/or/not"
            )

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, _CONSTANT_TYPES):
            raise self._error(node, f"{type(node.value).__name__} literals are not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == self.expr.record_name:
            raise self._error(node, f"use {node.id}['field'] to read a field of the record")
        if self.expr.record_name is not None:
            raise self._error(
                node, f"unknown name '{node.id}'", f"read fields as {self.expr.record_name}['{node.id}']"
            )
        if node.id in SAFE_FUNCTIONS or node.id == "math" or node.id.startswith("__"):
            raise self._error(node, f"'{node.id}' can only be called, not used as a value")
        self._field(node.id, node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._is_record(node.value):
            key = node.slice
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise self._error(node, "a record is indexed by a field name in quotes")
            self._field(key.value, node)
            return
        self.visit(node.value)
        self.visit(node.slice)

    def visit_Slice(self, node: ast.Slice) -> None:
        for part in (node.lower, node.upper, node.step):
            if part is not None:
                self.visit(part)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values):
            if key is None:
                if not self._is_record(value):
                    raise self._error(value, "only the record itself can be unpacked with **")
                self.expr.reads_whole_record = True
                continue
            self.visit(key)
            self.visit(value)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if node.keywords:
            raise self._error(
                node.keywords[0], "keyword arguments are not allowed", "pass arguments by position"
            )
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self._error(node, "*args are not allowed")
        if isinstance(func, ast.Name) and func.id in SAFE_FUNCTIONS and self.expr.record_name != func.id:
            for arg in node.args:
                self.visit(arg)
            return
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "math" and func.attr in MATH_FUNCTIONS:
                self.expr.uses_math = True
                for arg in node.args:
                    self.visit(arg)
                return
            if self._is_record(func.value) and func.attr == "get":
                return self._visit_get(node)
        name = ast.unparse(func)
        raise self._error(
            node,
            f"call to '{name}' is not allowed",
            "allowed calls: "
            + ", ".join(sorted(SAFE_FUNCTIONS))
            + ", math."
            + "/".join(sorted(MATH_FUNCTIONS)),
        )

    def _visit_get(self, node: ast.Call) -> None:
        args = node.args
        if (
            not args
            or len(args) > 2
            or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str))
        ):
            raise self._error(node, "record.get takes a field name in quotes and an optional default")
        self._field(args[0].value, node)
        for arg in args[1:]:
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        raise self._error(node, "attribute access is not allowed", "use math.<function>(...) for math")

    def _is_record(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == self.expr.record_name is not None


FieldCode = Callable[..., ast.expr]
"""``field_code(name, default=None)``: the code reading a field; with a default (from a
seed-style ``x.get(name, default)``) the code must yield the default when the field is absent."""


def render(expr: Expression, field_code: FieldCode, record: ast.expr | None = None) -> str:
    """Return Python source for ``expr``, with each field read replaced by ``field_code``.

    ``record`` is the code for the whole record, used where a lambda unpacks it (``{**x}``).

    >>> e = parse_expression("price * size")
    >>> render(e, lambda f, default=None: ast.parse(f"r[{f!r}]", mode="eval").body)
    "r['price'] * r['size']"
    """
    return ast.unparse(_Rewriter(expr, field_code, record).rewrite(expr.body))


class _Rewriter:
    """Rebuilds a checked tree with each field read replaced by the code that holds the field;
    the tree it starts from is left as it is (it stays the node's parsed expression)."""

    def __init__(self, expr: Expression, field_code: FieldCode, record: ast.expr | None):
        self.expr = expr
        self.field_code = field_code
        self.record = record

    def _is_record(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == self.expr.record_name is not None

    def rewrite(self, node: ast.AST) -> ast.AST:
        """``node`` with the field reads below it replaced (a new tree where anything changed)."""
        if isinstance(node, ast.Name):
            return self.record if self._is_record(node) else self.field_code(node.id)
        if isinstance(node, ast.Subscript) and self._is_record(node.value):
            return self.field_code(node.slice.value)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and self._is_record(func.value):
                default = self.rewrite(node.args[1]) if len(node.args) > 1 else ast.Constant(None)
                return self.field_code(node.args[0].value, default)
            if isinstance(func, (ast.Name, ast.Attribute)):  # a function's name is no field
                return ast.Call(func, [self.rewrite(arg) for arg in node.args], node.keywords)
        if not node._fields:
            return node  # a context or an operator
        return type(node)(**{name: self._rewritten(value) for name, value in ast.iter_fields(node)})

    def _rewritten(self, value: object) -> object:
        if isinstance(value, ast.AST):
            return self.rewrite(value)
        if isinstance(value, list):
            return [self._rewritten(item) for item in value]
        return value
