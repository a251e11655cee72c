"""``ts`` columns that pyarrow read from a block, in epoch nanoseconds, exactly as :mod:`..timeutil` reads them.

Integer nanoseconds are taken as plain ASCII digits that fit in 64 bits. Of ISO-8601 only the
common form is taken: ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of one to
nine digits, then ``Z`` or an offset ``+HH:MM`` / ``-HH:MM``. Every field is checked as
:meth:`datetime.fromisoformat` checks it (month, day of the month in that year, hour, minute,
second, offset below 24 hours), and the result is computed with exact integer arithmetic. A
column with any other text is declined (None), and its block is read row by row instead.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .arrow_columns import every, longest

ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
_DAYS_IN_MONTH = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())
_FRACTION_SCALE = pa.array([10 ** (9 - digits) for digits in range(10)], pa.int64())
_NS_PER_SECOND = 1_000_000_000
_MOST_DIGITS = 19  # int64 nanoseconds; longer text (leading zeros) is left to the row reading


def timestamps(column: pa.Array, ts_range: tuple[int, int]) -> pa.Array | None:
    """``ts`` values within ``ts_range`` (from, up to), or None to decline the column."""
    if every(pc.ascii_is_decimal(column)) and longest(column) <= _MOST_DIGITS:
        values = pc.cast(column, pa.int64())
    else:
        values = iso_timestamps_ns(column)
        if values is None:
            return None
    bounds = pc.min_max(values)
    low, high = ts_range
    if bounds["min"].as_py() < low or bounds["max"].as_py() >= high:
        return None
    return values


def iso_timestamps_ns(column: pa.Array) -> pa.Array | None:
    """Epoch nanoseconds (int64) of a string column of ISO-8601 timestamps with a UTC offset,
    or None unless every value has the form above, is a valid time and fits in 64 bits."""
    if not every(pc.match_substring_regex(column, ISO_TIMESTAMP)):
        return None
    raw = column.cast(pa.binary())
    year, month, day = _number(raw, 0, 4), _number(raw, 5, 7), _number(raw, 8, 10)
    hour, minute, second = _number(raw, 11, 13), _number(raw, 14, 16), _number(raw, 17, 19)
    utc = pc.ends_with(column, "Z")
    zone = pc.if_else(utc, b"+00:00", pc.binary_slice(raw, -6))
    zone_hours, zone_minutes = _number(zone, 1, 3), _number(zone, 4, 6)
    if not _valid(year, month, day, hour, minute, second, zone_hours, zone_minutes):
        return None
    time_of_day = pc.add(pc.add(pc.multiply(hour, 3600), pc.multiply(minute, 60)), second)
    seconds = pc.add(pc.multiply(_days_since_epoch(year, month, day), 86_400), time_of_day)
    offset = pc.add(pc.multiply(zone_hours, 3600), pc.multiply(zone_minutes, 60))
    west = pc.equal(pc.binary_slice(zone, 0, 1), b"-")
    seconds = pc.if_else(west, pc.add(seconds, offset), pc.subtract(seconds, offset))
    fraction = pc.if_else(utc, pc.binary_slice(raw, 20, -1), pc.binary_slice(raw, 20, -6))
    scale = pc.take(_FRACTION_SCALE, pc.binary_length(fraction))
    fraction_ns = pc.multiply(pc.cast(pc.binary_join_element_wise(b"0", fraction, b""), pa.int64()), scale)
    try:
        return pc.add_checked(pc.multiply_checked(seconds, _NS_PER_SECOND), fraction_ns)
    except pa.ArrowInvalid:  # beyond 64 bits of nanoseconds (after 2262): out of any ts_range
        return None


def _number(raw: pa.Array, start: int, stop: int) -> pa.Array:
    """The digits ``raw[start:stop]`` of every value, as int64."""
    return pc.cast(pc.binary_slice(raw, start, stop), pa.int64())


def _valid(year, month, day, hour, minute, second, zone_hours, zone_minutes) -> bool:
    """Whether every date, time of day and offset exists (year 1 on, offsets below 24 hours)."""
    in_range = [
        pc.greater_equal(year, 1),
        pc.greater_equal(month, 1),
        pc.less_equal(month, 12),
        pc.greater_equal(day, 1),
        pc.less_equal(hour, 23),
        pc.less_equal(minute, 59),
        pc.less_equal(second, 59),
        pc.less_equal(zone_hours, 23),
        pc.less_equal(zone_minutes, 59),
    ]
    if not all(every(check) for check in in_range):
        return False
    february = pc.and_(pc.equal(month, 2), _leap(year))
    month_days = pc.add(pc.take(_DAYS_IN_MONTH, month), pc.cast(february, pa.int64()))
    return every(pc.less_equal(day, month_days))


def _multiple(values: pa.Array, divisor: int) -> pa.Array:
    """Whether each (non-negative) value is a multiple of ``divisor``."""
    return pc.equal(pc.multiply(pc.divide(values, divisor), divisor), values)


def _leap(year: pa.Array) -> pa.Array:
    """Whether each year is a leap year of the Gregorian calendar."""
    return pc.and_(_multiple(year, 4), pc.or_(pc.invert(_multiple(year, 100)), _multiple(year, 400)))


def _days_since_epoch(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    """Days from 1970-01-01 to each date (years from 1 on), by Howard Hinnant's days_from_civil."""
    march_year = pc.subtract(year, pc.cast(pc.less_equal(month, 2), pa.int64()))  # years start in March
    era = pc.divide(march_year, 400)
    year_of_era = pc.subtract(march_year, pc.multiply(era, 400))
    march_month = pc.subtract(month, pc.if_else(pc.greater(month, 2), 3, -9))
    day_of_year = pc.add(pc.divide(pc.add(pc.multiply(march_month, 153), 2), 5), pc.subtract(day, 1))
    day_of_era = pc.add(
        pc.add(pc.multiply(year_of_era, 365), pc.divide(year_of_era, 4)),
        pc.subtract(day_of_year, pc.divide(year_of_era, 100)),
    )
    return pc.subtract(pc.add(pc.multiply(era, 146_097), day_of_era), 719_468)
