"""Turn text columns that pyarrow read from a block into tick values, exactly as :mod:`.tick_rows` would.

Each function returns a column's values (a pyarrow array, or a Python list where one column
holds both ints and floats), or None when some value is one that :mod:`.tick_rows` would refuse,
or might read differently (its block is then read row by row, which sets the row aside with its
reason and line). Optional columns are null where a value is empty; the tick then has no such
field.

What pyarrow's casts accept is narrower than Python's ``int`` and ``float`` but never wider
with a different result, once these are ruled out: integers are taken only as plain ASCII
digits (pyarrow also reads ``0x10`` as 16), and a non-finite float (``nan(1)``, which
``float`` refuses) declines the column anyway. A value a cast cannot read at all raises
:class:`pyarrow.ArrowInvalid`, which declines the block as well.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_FLOAT_MARKS = r"[.eE]"  # text that int() refuses for certain, so that tick_rows reads it as a float


def prices(column: pa.Array, optional: bool = False) -> pa.Array | None:
    """Finite floats (``price``, ``bid``, ``ask``)."""
    values = pc.cast(_empty_as_null(column) if optional else column, pa.float64())
    if not every(pc.is_finite(values)):
        return None
    return values


def sizes(column: pa.Array, optional: bool = False) -> pa.Array | list[int | float | None] | None:
    """Sizes that are not negative: an int where the text is a whole number, else a finite float."""
    whole = pc.ascii_is_decimal(column)
    if every(whole):
        return pc.cast(column, pa.int64())
    present = pc.invert(pc.equal(pc.binary_length(column), 0)) if optional else None
    other = pc.invert(whole) if present is None else pc.and_(present, pc.invert(whole))
    if not every(pc.or_(pc.invert(other), pc.match_substring_regex(column, _FLOAT_MARKS))):
        return None  # a sign, a space, an underscore: int() might read it as a whole number
    floats = pc.cast(pc.if_else(other, column, None), pa.float64())
    if not every(pc.and_(pc.is_finite(floats), pc.greater_equal(floats, 0))):
        return None
    if not every(pc.invert(whole)):
        ints = pc.cast(pc.if_else(whole, column, None), pa.int64()).to_pylist()
        return [f if i is None else i for i, f in zip(ints, floats.to_pylist())]
    return floats


def texts(column: pa.Array) -> pa.Array:
    """Optional text (``exchange``): null where empty."""
    return _empty_as_null(column)


def every(mask: pa.Array) -> bool:
    """Whether ``mask`` holds wherever it is not null (also when it is empty or all null)."""
    return pc.all(mask, min_count=0).as_py()


def longest(column: pa.Array) -> int:
    """The length of the longest value, in bytes (0 for none)."""
    return pc.max(pc.binary_length(column)).as_py() or 0


def _empty_as_null(column: pa.Array) -> pa.Array:
    """``column`` with its empty values null."""
    return pc.if_else(pc.equal(pc.binary_length(column), 0), None, column)
