"""Time at the edges: parse timestamps and durations into integer nanoseconds since the epoch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

NS_PER_SECOND = 1_000_000_000
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
    "d": 86400 * NS_PER_SECOND,
}
MAX_DURATION_NS = 3650 * _UNIT_NS["d"]
"""The longest duration a config may give (about ten years): longer ones are mistakes."""
_MAX_DURATION_DIGITS = len(str(MAX_DURATION_NS))
_DURATION = re.compile(r"^\s*(\d+)\s*(ns|us|ms|s|m|h|d)\s*$")
_FRACTION = re.compile(r"\.(\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TIMESTAMP_DIGITS = 40
MAX_TIMESTAMP_NS = 2**63 - 1
"""The latest timestamp a 64-bit integer holds (2262-04-11): sinks store ``ts`` as one."""


def parse_duration_ns(text: str) -> int:
    """Parse a duration such as ``"1m"``, ``"250ms"`` or ``"0s"`` into nanoseconds.

    A duration longer than :data:`MAX_DURATION_NS` (3650d) raises ``ValueError``.

    >>> parse_duration_ns("1m")
    60000000000
    >>> parse_duration_ns("250ms")
    250000000
    >>> parse_duration_ns("99999999999999999999d")
    Traceback (most recent call last):
    ...
    ValueError: duration '99999999999999999999d' is longer than 3650d, the longest mdp accepts
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"not a duration: {shorten(text)!r} (expected a whole number and a unit: ns, us, ms, s, m, h, d)"
        )
    digits, unit = match.group(1).lstrip("0") or "0", match.group(2)
    # more digits than the bound has in nanoseconds is too long whatever the unit (and int()
    # of thousands of digits would be refused, or slow)
    ns = int(digits) * _UNIT_NS[unit] if len(digits) <= _MAX_DURATION_DIGITS else MAX_DURATION_NS + 1
    if ns > MAX_DURATION_NS:
        raise ValueError(
            f"duration {shorten(text.strip())!r} is longer than {format_duration(MAX_DURATION_NS)}, "
            f"the longest mdp accepts"
        )
    return ns


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters (with ``...``), for quoting user input in messages.

    >>> shorten("9" * 50, 10)
    '9999999...'
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_duration(ns: int) -> str:
    """Render nanoseconds in the largest unit that divides them exactly.

    >>> format_duration(60_000_000_000)
    '1m'
    >>> format_duration(90_000_000_000)
    '90s'
    """
    if ns == 0:
        return "0s"
    for unit in ("d", "h", "m", "s", "ms", "us"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def parse_timestamp_ns(text: str) -> int:
    """Parse an ISO-8601 timestamp with an offset, or integer nanoseconds, into epoch ns (UTC).

    Fractions are kept to the nanosecond. A timestamp without an offset is ambiguous and
    raises ``ValueError`` instead of being guessed.

    >>> parse_timestamp_ns("1970-01-01T00:00:01.000000001+00:00")
    1000000001
    >>> parse_timestamp_ns("1970-01-01T01:00:00+01:00")
    0
    >>> parse_timestamp_ns("1700000000000000000")
    1700000000000000000
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        if len(text) > _MAX_TIMESTAMP_DIGITS:
            raise ValueError(f"an integer of {len(text)} digits is far beyond any timestamp")
        return int(text)
    fraction_ns = 0
    match = _FRACTION.search(text)
    if match:
        digits = match.group(1)
        fraction_ns = int(digits[:9].ljust(9, "0"))
        text = text[: match.start()] + text[match.end() :]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset; write it as ...Z or ...+00:00")
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * NS_PER_SECOND + fraction_ns


def format_timestamp(ns: int) -> str:
    """Render epoch nanoseconds as an ISO-8601 UTC string with nanosecond precision.

    >>> format_timestamp(1_000_000_001)
    '1970-01-01T00:00:01.000000001Z'
    """
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def utc_ns(year: int, month: int = 1, day: int = 1) -> int:
    """Epoch nanoseconds of midnight UTC at the start of the given day.

    >>> utc_ns(1970, 1, 2)
    86400000000000
    """
    delta = datetime(year, month, day, tzinfo=UTC) - _EPOCH
    return delta.days * 86400 * NS_PER_SECOND


DEFAULT_TS_RANGE_NS = (utc_ns(1990), utc_ns(2100))
"""Timestamps a source accepts unless told otherwise: from 1990-01-01 up to (not including) 2100-01-01."""
