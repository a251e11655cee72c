"""operator.window: tumbling event-time windows over any key, with ``fn(expr)`` aggregations."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from pydantic import Field

from runtime_lib.operators.aggregates import AGGREGATES
from runtime_lib.operators.event_windows import DEFAULT_MAX_JUMP_NS

from ..expressions import ExpressionError, parse_expression
from ..schema import Schema
from ..suggest import did_you_mean
from .base import Code, Component, Duration, Port, PositiveDuration, Problem
from .keys import key_code
from .resample import MAX_JUMP_DESCRIPTION, MaxJump
from .seed_aliases import Older, OlderSpellings

WINDOW_FIELDS = ("ts", "window_end")
EXAMPLES = {"count": "count() or count(bid)", "vwap": "vwap(price, size)"}


class WindowParams(OlderSpellings):
    """Aggregate each key's records over tumbling event-time windows ``[start, start + window)``."""

    COMPONENT = "operator.window"
    OLDER = (Older("key_fn", "key"), Older("watermark_lag", "allowed_lateness", seconds=True))

    window: PositiveDuration = Field(description="window width: 1s, 1m, 5m, 1h, ...")
    key: str = Field(
        "symbol", description="expression that groups records: a field, a tuple of fields, or any expression"
    )
    aggs: dict[str, str] = Field(
        min_length=1, description="{out_field: 'fn(expr)'}, fn: count sum min max mean first last vwap"
    )
    allowed_lateness: Duration = Field(0, description="how far behind the newest record a record may arrive")
    offset: Duration = Field(0, description="shift of the window grid from the epoch")
    idle_timeout: Duration | None = Field(
        None, description="live sources: also close a window this long after end + allowed_lateness"
    )
    max_jump: MaxJump = Field(DEFAULT_MAX_JUMP_NS, description=MAX_JUMP_DESCRIPTION.replace("tick", "record"))
    late: str = Field(
        "drop", min_length=1, description="drop (count late records), or the id of a node that receives them"
    )


class AggError(Exception):
    """An aggregation that is not ``fn(expr, ...)`` with a known fn and the right arity."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Agg:
    """A parsed aggregation: its function and argument expressions.

    Each argument is indented so that its columns are those it has in the written text, so
    field errors inside it point at the right place.
    """

    fn: str
    args: tuple[str, ...]


def parse_agg(text: str) -> Agg:
    """Parse ``fn(expr, ...)``; raise :class:`AggError` for another form, fn or arity.

    >>> parse_agg("vwap(price, size)")
    Agg(fn='vwap', args=('     price', '            size'))
    >>> parse_agg("count()").args
    ()
    >>> parse_agg("avg(price)")
    Traceback (most recent call last):
    ...
    compiler.components.window.AggError: unknown aggregation 'avg'
    """
    form = "an aggregation is written fn(expr), such as sum(size)"
    known = "known: " + ", ".join(AGGREGATES)
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    try:
        call = ast.parse(stripped, mode="eval").body if "\n" not in stripped else None
    except SyntaxError:
        call = None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise AggError(form, known)
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        raise AggError("the arguments of an aggregation are plain expressions (no keywords, no *)")
    fn = call.func.id
    if fn not in AGGREGATES:
        suggestion = did_you_mean(fn, AGGREGATES)
        raise AggError(f"unknown aggregation {fn!r}", f"{suggestion} ({known})" if suggestion else known)
    least, most = AGGREGATES[fn].arity
    if not least <= len(call.args) <= most:
        wanted = {(0, 1): "no argument or one", (1, 1): "one argument", (2, 2): "two arguments"}[
            (least, most)
        ]
        got = len(call.args)
        raise AggError(f"{fn} takes {wanted}, not {got}", f"write it as {EXAMPLES.get(fn, f'{fn}(price)')}")
    encoded = stripped.encode("utf-8")
    args = tuple(
        " " * (lead + len(encoded[: a.col_offset].decode("utf-8"))) + ast.get_source_segment(stripped, a)
        for a in call.args
    )
    return Agg(fn, args)


def key_fields(key: str) -> tuple[str, ...]:
    """The output field(s) of a key: the field it reads, one per field of a tuple, else ``key``.

    >>> key_fields("symbol"), key_fields("(symbol, exchange)"), key_fields("size > 100")
    (('symbol',), ('symbol', 'exchange'), ('key',))
    """
    try:
        expr = parse_expression(key)
    except ExpressionError:
        return ("key",)

    def plain(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name) and expr.record_name is None:
            return node.id
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == expr.record_name
        ):
            return node.slice.value
        return None

    body = expr.body
    if plain(body) is not None:
        return (plain(body),)
    if isinstance(body, ast.Tuple) and len(body.elts) > 1:
        names = [plain(e) for e in body.elts]
        if None not in names and len(set(names)) == len(names):
            return tuple(names)
    return ("key",)


def _aggs(params: WindowParams) -> dict[str, Agg]:
    """The aggregations that parse (the others are reported by the check)."""
    found = {}
    for name, text in params.aggs.items():
        try:
            found[name] = parse_agg(text)
        except AggError:
            continue
    return found


def _check(params: WindowParams) -> list[Problem]:
    problems = []
    keys = key_fields(params.key)
    for name in keys:
        if name in WINDOW_FIELDS:
            problems.append(
                Problem(
                    params.param_path("key"),
                    f"the key field {name!r} would clash with the window's {name!r}",
                    "window records carry ts (window start) and window_end",
                )
            )
    for name, text in params.aggs.items():
        try:
            parse_agg(text)
        except AggError as exc:
            problems.append(Problem(("aggs", name), exc.message, exc.hint))
        if name in WINDOW_FIELDS or name in keys:
            problems.append(
                Problem(
                    ("aggs", name),
                    f"output field {name!r} is already the window's "
                    f"{'key' if name in keys else name} field",
                    "choose another name",
                )
            )
    return problems


def _expressions(params: WindowParams) -> dict[tuple, str]:
    found: dict[tuple, str] = {params.param_path("key"): params.key}
    for name, agg in _aggs(params).items():
        found.update({("aggs", name, i): arg for i, arg in enumerate(agg.args)})
    return found


def _aggs_code(params: WindowParams) -> Code:
    """``[(out_field, fn, (value functions...)), ...]`` as one piece of code, with its imports."""
    items, imports = [], set()
    for name, agg in _aggs(params).items():
        codes = [key_code(parse_expression(arg)) for arg in agg.args]
        for code in codes:
            imports.update(code.imports)
        values = ", ".join(code.text for code in codes) + ("," if len(codes) == 1 else "")
        items.append(f"({name!r}, {agg.fn!r}, ({values}))")
    return Code("[" + ", ".join(items) + "]", tuple(sorted(imports)))


def _kwargs(params: WindowParams) -> dict:
    kwargs = {
        "window_ns": params.window,
        "key": key_code(parse_expression(params.key)),
        "key_fields": key_fields(params.key),
        "aggs": _aggs_code(params),
        "offset_ns": params.offset,
        "allowed_lateness_ns": params.allowed_lateness,
        "idle_timeout_ns": params.idle_timeout,
        "max_jump_ns": params.max_jump,
    }
    if params.late != "drop":
        kwargs["collect_late"] = True
    return kwargs


def _output(params: WindowParams, upstream: Schema | None) -> Schema:
    return Schema.of(key_fields(params.key) + WINDOW_FIELDS + tuple(params.aggs))


COMPONENTS = (
    Component(
        "operator.window",
        WindowParams,
        "tumbling event-time windows per key with count/sum/min/max/mean/first/last/vwap aggregations",
        output=_output,
        runtime="runtime_lib.operators.window:Window",
        state_text="its open windows and per-key watermarks",
        kwargs=_kwargs,
        expressions=_expressions,
        requires=lambda params: [(("type",), "ts")],
        check=_check,
        side_outputs=lambda params: [Port("late", params.late, ("late",))] if params.late != "drop" else [],
        port_schema=lambda port, params, upstream, output: upstream,
    ),
)
