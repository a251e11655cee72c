"""Turn CSV rows into ticks, and say why a row cannot be one.

A file problem (no header, a required column missing) raises
:class:`~runtime_lib.errors.JobError`. A record problem raises :class:`Rejected` with a short
reason and a ``path:line: ...`` detail, so the caller can set that one row aside and go on:

- ``wrong field count``, ``empty symbol``;
- ``bad ts``: empty, not a timestamp, or ISO-8601 without a UTC offset;
- ``ts out of range``: outside ``ts_range`` (default 1990-01-01 up to 2100-01-01);
- ``bad <column>``: a number column that is empty or not a number;
- ``<column> not finite``: ``nan`` or ``inf`` (or a float too large, such as ``1e999``);
- ``<column> out of range``: a whole number beyond a signed 64-bit integer;
- ``negative <column>``: a size below 0 (``size``, ``bid_size``, ``ask_size``); prices may be
  negative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import isfinite

from ..errors import JobError
from ..timeutil import NS_PER_SECOND, format_timestamp, parse_timestamp_ns, shorten

REQUIRED_COLUMNS = ("symbol", "ts", "price", "size")
OPTIONAL_COLUMNS = ("bid", "ask", "bid_size", "ask_size", "exchange")
PRICES = ("price", "bid", "ask")
SIZES = ("size", "bid_size", "ask_size")
TS_OUT_OF_RANGE = "ts out of range"
_INT64 = 2**63
_UNITS = (("seconds", NS_PER_SECOND), ("milliseconds", 1_000_000), ("microseconds", 1_000))


class Rejected(Exception):
    """One row that is not a tick: ``reason`` to count it under, ``detail`` to log."""

    def __init__(self, reason: str, detail: str, unit: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.unit = unit  # for ts out of range: the unit the ts would be plausible in


@dataclass(frozen=True)
class Layout:
    """Where each column sits in the rows of one file."""

    path: str
    width: int
    symbol: int
    ts: int
    price: int
    size: int
    optional: tuple[tuple[str, int], ...]


def layout(path: str, header: list[str] | None) -> Layout:
    """The :class:`Layout` of a header row, or a :class:`JobError` at ``path:1``."""
    if header is None:
        raise JobError(f"{path}:1: empty file; expected a header with {', '.join(REQUIRED_COLUMNS)}")
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise JobError(
            f"{path}:1: missing required column {', '.join(repr(m) for m in missing)} "
            f"(header has: {shorten(', '.join(header), 200)})"
        )
    index = {name: header.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in header}
    optional = tuple((name, index[name]) for name in OPTIONAL_COLUMNS if name in index)
    return Layout(path, len(header), *(index[name] for name in REQUIRED_COLUMNS), optional)


def row_parser(where: Layout, ts_range: tuple[int, int]) -> Callable[[list[str], int], dict]:
    """A function turning a row at a line of the file into its tick, or raising :class:`Rejected`."""
    path, width, i_symbol, i_ts, i_price, i_size = (
        where.path,
        where.width,
        where.symbol,
        where.ts,
        where.price,
        where.size,
    )
    optional = tuple(
        (name, i, PRICES if name in PRICES else SIZES if name in SIZES else None)
        for name, i in where.optional
    )

    def parse(row: list[str], line: int) -> dict:
        if len(row) != width:
            raise Rejected("wrong field count", f"{path}:{line}: expected {width} fields, found {len(row)}")
        symbol = row[i_symbol]
        if not symbol:
            raise Rejected("empty symbol", f"{path}:{line}: empty 'symbol'")
        record = {
            "symbol": symbol,
            "ts": timestamp(path, line, row[i_ts], ts_range),
            "price": price(path, line, "price", row[i_price]),
            "size": size(path, line, "size", row[i_size]),
        }
        for name, i, kind in optional:
            text = row[i]
            if text:
                record[name] = (
                    price(path, line, name, text)
                    if kind is PRICES
                    else (size(path, line, name, text) if kind is SIZES else text)
                )
        return record

    return parse


def timestamp(path: str, line: int, text: str, ts_range: tuple[int, int]) -> int:
    """Parse a ``ts`` cell into epoch nanoseconds within ``ts_range`` (from, up to), or :class:`Rejected`."""
    if not text:
        raise Rejected("bad ts", f"{path}:{line}: empty 'ts'")
    try:
        ts = parse_timestamp_ns(text)
    except ValueError as exc:
        raise Rejected("bad ts", f"{path}:{line}: bad 'ts' {shorten(text)!r}: {exc}") from None
    low, high = ts_range
    if low <= ts < high:
        return ts
    unit = _plausible_unit(text, ts, ts_range)
    shown = shorten(text.strip())
    detail = f"{path}:{line}: ts {shown} is outside ts_range {format_bound(low)}..{format_bound(high)}"
    if unit:
        detail += f"; it looks like {unit} since the epoch, and ts must be integer nanoseconds"
    raise Rejected(TS_OUT_OF_RANGE, detail, unit)


def _plausible_unit(text: str, ts: int, ts_range: tuple[int, int]) -> str | None:
    """The unit (``seconds``...) an integer ``ts`` would lie within ``ts_range`` in, if any."""
    if not text.strip().lstrip("-").isdigit():
        return None
    return next((unit for unit, ns in _UNITS if ts_range[0] <= ts * ns < ts_range[1]), None)


def format_bound(ns: int) -> str:
    """A ``ts_range`` bound for messages: the date alone at midnight UTC, else the full timestamp.

    >>> format_bound(631152000000000000), format_bound(1)
    ('1990-01-01', '1970-01-01T00:00:00.000000001Z')
    """
    text = format_timestamp(ns)
    return text[:10] if text.endswith("T00:00:00.000000000Z") else text


def price(path: str, line: int, name: str, text: str) -> float:
    """Parse a price cell (``price``, ``bid``, ``ask``) into a finite float, or :class:`Rejected`."""
    try:
        value = float(text)
    except ValueError:
        raise _not_a_number(path, line, name, text) from None
    if not isfinite(value):
        raise Rejected(
            f"{name} not finite", f"{path}:{line}: {name!r} is not a finite number: {shorten(text.strip())!r}"
        )
    return value


def size(path: str, line: int, name: str, text: str) -> int | float:
    """Parse a size cell: an int when written as a whole number (within 64 bits), else a finite
    float; never negative. Raises :class:`Rejected` otherwise."""
    try:
        value = int(text)
    except ValueError:
        value = price(path, line, name, text)
    else:
        if not -_INT64 <= value < _INT64:
            raise Rejected(
                f"{name} out of range",
                f"{path}:{line}: {name} {shorten(text.strip())} is beyond a 64-bit integer",
            )
    if value < 0:
        raise Rejected(f"negative {name}", f"{path}:{line}: {name} {shorten(text.strip())} is negative")
    return value


def _not_a_number(path: str, line: int, name: str, text: str) -> Rejected:
    text = text.strip()
    if not text:
        return Rejected(f"bad {name}", f"{path}:{line}: empty {name!r}")
    return Rejected(f"bad {name}", f"{path}:{line}: {name!r} is not a number: {shorten(text)!r}")
