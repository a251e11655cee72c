"""Time at the edges: parse timestamps and durations into integer nanoseconds since the epoch."""

from __future__ import annotations

import re
from datetime import datetime, timezone

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
_DURATION = re.compile(r"^\s*(\d+)\s*(ns|us|ms|s|m|h|d)\s*$")
_FRACTION = re.compile(r"\.(\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_duration_ns(text: str) -> int:
    """Parse a duration such as ``"1m"``, ``"250ms"`` or ``"0s"`` into nanoseconds.

    >>> parse_duration_ns("1m")
    60000000000
    >>> parse_duration_ns("250ms")
    250000000
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (expected a whole number and a unit: ns, us, ms, s, m, h, d)")
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


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
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"
