"""Records as Redis stream entries, and back, with every value's type and bits kept.

A Redis stream entry is a list of (field, value) byte strings. A record is a flat dict whose
values are ``str``, ``int``, ``float``, ``bool`` or ``None``; each field name is written as its
UTF-8 text and each value as a one-byte type tag followed by its text:

====== ====================================== =====================================
tag    value                                  example
====== ====================================== =====================================
``s``  ``str``, UTF-8                         ``sAAPL``
``i``  ``int`` up to 2048 bits, decimal       ``i1700000000000000000``
``x``  a larger ``int``, hexadecimal          ``x-1f3a...``
``f``  ``float``: ``repr`` (exact), or        ``f101.25``, ``f-0.0``, ``finf``,
       ``nan:`` and the 64 bits in hex        ``fnan:7ff8000000000000``
``b``  ``bool``                               ``b1``, ``b0``
``n``  ``None``                               ``n``
====== ====================================== =====================================

So ints stay ints of any size (the hexadecimal form is not bound by Python's limit on decimal
digits), a float comes back with the same bits (``repr`` round-trips every finite float and
the sign of zero; a NaN keeps its sign and payload as far as Python keeps them), and a string
may hold any code point (lone surrogates too). Field order is kept. A nested value (a dict,
list, tuple or set), bytes or any other type is refused with :class:`RecordEncodingError`
naming the field, and so is a record without fields (a stream entry needs at least one).

>>> entry = encode_record({"symbol": "AAA", "ts": 1, "price": 1.5, "odd": True, "bid": None})
>>> entry
{b'symbol': b'sAAA', b'ts': b'i1', b'price': b'f1.5', b'odd': b'b1', b'bid': b'n'}
>>> decode_record(entry)
{'symbol': 'AAA', 'ts': 1, 'price': 1.5, 'odd': True, 'bid': None}
"""

from __future__ import annotations

import struct

DECIMAL_INT_BITS = 2048
"""Ints up to this many bits are written in decimal: fewer digits than the smallest limit
Python's ``sys.set_int_max_str_digits`` accepts (640), so every reader can parse them."""

_TYPES = "str, int, float, bool or None"
_DOUBLE = struct.Struct(">d")
_BITS = struct.Struct(">Q")


class RecordEncodingError(ValueError):
    """A record that cannot be written as a stream entry; the message names the field."""


class RecordDecodingError(ValueError):
    """A stream entry that is not an encoded record; the message names the field."""


def _encode_float(value: float) -> bytes:
    if value != value:  # NaN: its bits, since repr would lose the sign and payload
        return b"fnan:%016x" % _BITS.unpack(_DOUBLE.pack(value))[0]
    return b"f%r" % value


def _encode_int(value: int) -> bytes:
    if value.bit_length() <= DECIMAL_INT_BITS:
        return b"i%d" % value
    return b"x" + format(value, "x").encode()


def _encode_str(value: str) -> bytes:
    return b"s" + value.encode("utf-8", "surrogatepass")


def _encode_bool(value: bool) -> bytes:
    return b"b1" if value else b"b0"


_ENCODERS = {
    str: _encode_str,
    int: _encode_int,
    float: _encode_float,
    bool: _encode_bool,
    type(None): lambda value: b"n",
}


def _encoder(name: object, value: object):
    """The encoder of a value whose type is not exactly one of the five (a subclass, or refused)."""
    for kind in (bool, int, float, str):  # bool first: it is an int too
        if isinstance(value, kind):
            return lambda value: _ENCODERS[kind](kind(value))  # as the plain type, whatever its repr
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        problem = f"holds a nested {type(value).__name__}"
    else:
        problem = f"holds a {type(value).__name__}"
    raise RecordEncodingError(
        f"field {name!r} {problem}: a Redis stream record holds only flat values ({_TYPES})"
    )


def encode_record(record: dict) -> dict[bytes, bytes]:
    """The stream entry fields of ``record``; raises :class:`RecordEncodingError` for a value it cannot hold.

    >>> encode_record({"legs": [1, 2]})
    Traceback (most recent call last):
    ...
    runtime_lib.redis_codec.RecordEncodingError: field 'legs' holds a nested list: a Redis stream record holds only flat values (str, int, float, bool or None)
    """
    if not record:
        raise RecordEncodingError("a record without fields cannot be a stream entry")
    fields = {}
    for name, value in record.items():
        encoded_name = _NAMES.get(name) if type(name) is str else None
        if encoded_name is None:
            encoded_name = _encode_name(name)
        encode = _ENCODERS.get(type(value)) or _encoder(name, value)
        fields[encoded_name] = encode(value)
    return fields


_NAMES: dict[str, bytes] = {}  # field names seen, encoded: a job's records share a few names
_MOST_NAMES = 10_000


def _encode_name(name: object) -> bytes:
    if type(name) is not str:
        raise RecordEncodingError(f"field name {name!r} is a {type(name).__name__}: field names must be text")
    encoded = name.encode("utf-8", "surrogatepass")
    if len(_NAMES) < _MOST_NAMES:
        _NAMES[name] = encoded
    return encoded


def _decode_float(text: bytes) -> float:
    if text.startswith(b"nan:"):
        return _DOUBLE.unpack(_BITS.pack(int(text[4:], 16)))[0]
    return float(text)


_DECODERS = {
    ord("s"): lambda text: text.decode("utf-8", "surrogatepass"),
    ord("i"): int,
    ord("x"): lambda text: int(text, 16),
    ord("f"): _decode_float,
    ord("b"): {b"1": True, b"0": False}.__getitem__,
    ord("n"): {b"": None}.__getitem__,
}


def decode_record(fields: dict[bytes, bytes]) -> dict:
    """The record that :func:`encode_record` wrote as ``fields``; raises :class:`RecordDecodingError`
    for an entry some other program wrote (a value without a known type tag, or a bad value).

    >>> decode_record({b"price": b"101.5"})
    Traceback (most recent call last):
    ...
    runtime_lib.redis_codec.RecordDecodingError: field 'price' holds b'101.5', which has no type tag (s, i, x, f, b or n)
    """
    record = {}
    for name, value in fields.items():
        decode = _DECODERS.get(value[0]) if value else None
        if decode is None:
            raise RecordDecodingError(
                f"field {_name(name)!r} holds {value[:40]!r}, which has no type tag (s, i, x, f, b or n)"
            )
        try:
            record[name.decode("utf-8", "surrogatepass")] = decode(value[1:])
        except (ValueError, KeyError, struct.error) as exc:
            raise RecordDecodingError(f"field {_name(name)!r} holds {value[:40]!r}: {exc}") from None
    return record


def _name(name: bytes) -> str:
    return name.decode("utf-8", "replace")
