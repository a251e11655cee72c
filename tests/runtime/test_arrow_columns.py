"""Whatever value the pyarrow column readers accept, the row reader accepts too, with the same
value and type: any text from an alphabet of digits, signs, points, exponents, spaces and the
letters of nan, inf and hex."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_lib.sources.replay import FAST_READER
from runtime_lib.sources.tick_rows import Rejected, price, size, timestamp
from runtime_lib.timeutil import DEFAULT_TS_RANGE_NS

pytestmark = pytest.mark.skipif(not FAST_READER, reason="pyarrow 15 or later is not installed")

if FAST_READER:
    import pyarrow as pa

    from runtime_lib.sources.arrow_columns import prices, sizes
    from runtime_lib.sources.arrow_timestamps import timestamps

NUMBERS = st.text("0123456789+-.eE_ xnaifty٣", max_size=24)
TIMESTAMPS = st.one_of(
    st.text("0123456789-", max_size=22),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
        st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24),
        st.integers(0, 60), st.integers(0, 60),
        st.sampled_from(["", ".5", ".123456789", ".1234567890", "."]),
        st.sampled_from(["Z", "+00:00", "-04:00", "+23:59", "+24:00", "-00:60", "z", ""]),
    ),
)  # fmt: skip


def row_reader(parse, text: str):
    """What ``tick_rows`` makes of ``text``: its value, or None when it refuses it."""
    try:
        return parse(text)
    except Rejected:
        return None


def values(column) -> list:
    """The Python values of a column the readers return (a pyarrow array or a list)."""
    return column if isinstance(column, list) else column.to_pylist()


def agree(fast, text: str, parse, optional: bool = False) -> None:
    """A column value pyarrow accepts is the one the row reader gives (an empty optional is None)."""
    if fast is None:
        return
    expected = None if optional and not text else row_reader(parse, text)
    value = values(fast)[0]
    assert value == expected and type(value) is type(expected), text


@settings(max_examples=400, deadline=None)
@given(NUMBERS, st.booleans())
def test_prices(text, optional):
    try:
        fast = prices(pa.array([text, "1.5"]), optional)
    except pa.ArrowInvalid:
        return
    agree(fast, text, lambda t: price("f", 1, "price", t), optional)


@settings(max_examples=400, deadline=None)
@given(NUMBERS, st.booleans())
def test_sizes(text, optional):
    try:
        fast = sizes(pa.array([text, "7"]), optional)
    except pa.ArrowInvalid:
        return
    agree(fast, text, lambda t: size("f", 1, "size", t), optional)


@settings(max_examples=400, deadline=None)
@given(TIMESTAMPS)
def test_timestamps(text):
    try:
        fast = timestamps(pa.array([text]), DEFAULT_TS_RANGE_NS)
    except pa.ArrowInvalid:
        return
    agree(fast, text, lambda t: timestamp("f", 1, t, DEFAULT_TS_RANGE_NS))


def test_common_values_are_accepted():
    iso = pa.array(["2024-03-15T09:30:00.5-04:00", "2024-03-15T13:30:00Z"])
    assert values(timestamps(iso, DEFAULT_TS_RANGE_NS)) == [
        1_710_509_400_500_000_000,
        1_710_509_400_000_000_000,
    ]
    assert sizes(pa.array(["5", "12.5", ""]), True) == [5, 12.5, None]
    assert values(sizes(pa.array(["1.5", ""]), True)) == [1.5, None]
    assert values(prices(pa.array(["10", "-1.25e1"]))) == [10.0, -12.5]
