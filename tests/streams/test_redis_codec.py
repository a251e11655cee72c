"""Records round-trip through the Redis stream codec exactly: types, float bits, big ints, text."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime_lib.redis_codec import RecordDecodingError, RecordEncodingError, decode_record, encode_record


def bits(value: float) -> bytes:
    """The IEEE 754 bits of ``value``."""
    return struct.pack(">d", value)


def same(a: object, b: object) -> bool:
    """Equal with the same type; floats compared bit for bit."""
    if type(a) is not type(b):
        return False
    return bits(a) == bits(b) if isinstance(a, float) else a == b


nan_with_payload = st.integers(1, 2**51 - 1).flatmap(
    lambda payload: st.sampled_from([0x7FF8 << 48, 0xFFF8 << 48]).map(
        lambda quiet: struct.unpack(">d", struct.pack(">Q", quiet | payload))[0]
    )
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**9000), 2**9000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324, -1.7976931348623157e308]),
    nan_with_payload,
    st.text(),
    st.text(st.characters(codec=None, categories=["Cs", "Co", "Zs", "Lo"])),  # lone surrogates too
)
records = st.dictionaries(st.text(), values, min_size=1, max_size=12)


@given(records)
def test_encode_then_decode_gives_the_record_back_exactly(record):
    decoded = decode_record(encode_record(record))
    assert list(decoded) == list(record)  # field order too
    assert all(same(decoded[name], value) for name, value in record.items()), (record, decoded)


@given(records)
def test_an_entry_is_bytes_to_bytes(record):
    entry = encode_record(record)
    assert all(type(name) is bytes and type(value) is bytes for name, value in entry.items())


def test_ints_beyond_pythons_decimal_digit_limit_round_trip():
    huge = -(7**20000)  # about 56,000 bits: far past the 4,300-digit limit of int(str)
    assert decode_record(encode_record({"n": huge})) == {"n": huge}


def test_subclasses_come_back_as_the_plain_type():
    class Price(float):
        pass

    decoded = decode_record(encode_record({"p": Price(1.25), "flag": True, "n": 3}))
    assert [(type(v), v) for v in decoded.values()] == [(float, 1.25), (bool, True), (int, 3)]


@pytest.mark.parametrize(
    ("value", "kind"),
    [({"a": 1}, "a nested dict"), ([1, 2], "a nested list"), ((1,), "a nested tuple"), (b"x", "a bytes")],
)
def test_values_a_flat_entry_cannot_hold_are_refused_naming_the_field(value, kind):
    with pytest.raises(RecordEncodingError) as caught:
        encode_record({"symbol": "AAA", "legs": value})
    assert str(caught.value) == (
        f"field 'legs' holds {kind}: a Redis stream record holds only flat values "
        "(str, int, float, bool or None)"
    )


def test_a_record_without_fields_and_a_field_name_that_is_no_text_are_refused():
    with pytest.raises(RecordEncodingError, match="without fields"):
        encode_record({})
    with pytest.raises(RecordEncodingError, match="field name 3 is a int"):
        encode_record({3: "x"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({b"price": b"101.5"}, "field 'price' holds b'101.5', which has no type tag"),
        ({b"price": b""}, "field 'price' holds b'', which has no type tag"),
        ({b"size": b"iten"}, "field 'size' holds b'iten': invalid literal"),
        ({b"odd": b"byes"}, "field 'odd' holds b'byes'"),
    ],
)
def test_entries_other_programs_wrote_are_reported_naming_the_field(fields, message):
    with pytest.raises(RecordDecodingError) as caught:
        decode_record(fields)
    assert str(caught.value).startswith(message)
