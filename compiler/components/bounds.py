"""Param types whose values have bounds: a value outside them is a located compile-time error.

The bounds come from the runtime (the sources check them again), so the two never disagree.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from runtime_lib.sources.base import MAX_BATCH_SIZE
from runtime_lib.sources.source_bounds import check_rate, check_speed
from runtime_lib.timeutil import MAX_TIMESTAMP_NS, parse_timestamp_ns, shorten, utc_ns

BatchSize = Annotated[int, Field(gt=0, le=MAX_BATCH_SIZE)]
"""Records per batch a source hands on: 1 to 100,000 (a batch is built whole in memory)."""

Speed = Annotated[float, Field(allow_inf_nan=False), AfterValidator(check_speed)]
"""A replay speed: 0 (unpaced) or 0.001 to 1,000,000 times real time."""

TickRate = Annotated[float, Field(allow_inf_nan=False), AfterValidator(check_rate)]
"""Synthetic ticks per second: 0 (unpaced) or 0.001 to 1e9."""

_YEAR = re.compile(r"^\d{4}$")
_FIRST_YEAR, _LAST_YEAR = 1970, 2262  # a timestamp is a signed 64-bit count of ns since 1970
_BOUND_FORMS = "a year (1990), a date (1990-01-01) or a timestamp with an offset (1990-01-01T00:00:00Z)"


def _ts_bound(value: Any) -> int:
    """A ``ts_range`` bound as epoch nanoseconds (a year or a date means its first midnight UTC)."""
    if isinstance(value, str) and _YEAR.match(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str, date)):
        raise ValueError(f"a ts_range bound is {_BOUND_FORMS}")
    if isinstance(value, int):
        if not _FIRST_YEAR <= value <= _LAST_YEAR:
            raise ValueError(f"year {value} is outside {_FIRST_YEAR}..{_LAST_YEAR}, the years a ts can hold")
        return utc_ns(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"timestamp {value.isoformat()} has no UTC offset; write it as ...Z or ...+00:00"
            )
        value = value.isoformat()
    elif isinstance(value, date):
        value = value.isoformat() + "T00:00:00+00:00"
    elif re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip()):
        value = value.strip() + "T00:00:00+00:00"
    try:
        ns = parse_timestamp_ns(value)
    except ValueError:
        raise ValueError(f"bad ts_range bound {shorten(value)!r}: write {_BOUND_FORMS}") from None
    if not 0 <= ns <= MAX_TIMESTAMP_NS:
        raise ValueError(
            f"ts_range bound {shorten(value)!r} is outside 1970-01-01..2262-04-11, the times a ts can hold"
        )
    return ns


TsBound = Annotated[
    int,
    BeforeValidator(_ts_bound),
    WithJsonSchema({"type": ["integer", "string"], "format": "year, date or timestamp"}),
]
"""One end of a ``ts_range``, held as epoch nanoseconds."""


def ordered_range(bounds: tuple[int, int]) -> tuple[int, int]:
    """Return ``bounds`` if the first comes before the second, else raise ``ValueError``."""
    if bounds[0] >= bounds[1]:
        raise ValueError("ts_range must be [from, up to] with from before up to, such as [1990, 2100]")
    return bounds
