"""The fast reading of a replay: a whole block of lines through pyarrow's CSV reader.

:class:`ArrowBlocks` turns a block of whole lines into ticks (:class:`TickColumns`) when every
row of it is plainly a tick, with the very values and fields :class:`.row_reader.RowReader`
would give; otherwise it declines the block (None) and the block is read row by row (see
:mod:`.tick_blocks`).

A block is declined before pyarrow sees it when it holds anything the two readers might split
into rows or fields differently: a quote, a carriage return that does not end a line, bytes
that are not UTF-8, or a line longer than ``max_line_bytes`` or than the :mod:`csv` field
limit. pyarrow then reads the columns of ticks as text, and a block is declined when it reads a row
count other than the number of lines (an empty line), a wrong field count, or any value
:mod:`.arrow_columns` and :mod:`.arrow_timestamps` decline. Only the rows of wanted symbols
are checked, as the row reader skips the others unchecked.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import compress

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .arrow_columns import longest, prices, sizes, texts
from .arrow_timestamps import timestamps
from .shard_share import ShardShare
from .tick_rows import PRICES, SIZES, Layout

if int(pa.__version__.split(".")[0]) < 15:
    raise ImportError(f"the fast replay needs pyarrow 15 or later, not {pa.__version__}")

_PARSE = pa_csv.ParseOptions(
    delimiter=",", quote_char=False, double_quote=False, escape_char=False, ignore_empty_lines=True
)


class ArrowBlocks:
    """Read blocks of whole lines of the file laid out as ``where`` into ticks, or decline them;
    with a ``share``, keep the ticks of the shard's symbols once the whole block is read."""

    def __init__(
        self,
        where: Layout,
        ts_range: tuple[int, int],
        wanted: frozenset[str] | None,
        max_bytes: int,
        share: ShardShare | None = None,
    ) -> None:
        self.ts_range = ts_range
        self.share = share
        self.max_bytes = max_bytes
        self._names = [f"c{i}" for i in range(where.width)]
        used = [where.symbol, where.ts, where.price, where.size] + [i for _name, i in where.optional]
        self._optional = tuple(name for name, _i in where.optional)
        self._convert = pa_csv.ConvertOptions(
            column_types={self._names[i]: pa.string() for i in used},
            include_columns=[self._names[i] for i in used],
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        self._wanted = None if wanted is None else pa.array(sorted(wanted), pa.string())
        self._symbols: dict[str, str] = {}  # one str object per symbol, for every block

    def __call__(self, block: bytes, lines: int) -> TickColumns | list[dict] | None:
        """The ticks of ``block``, ``lines`` whole lines each ending in a newline, or None to decline it."""
        if not self._plain(block):
            return None
        try:
            return self._ticks(block, lines)
        except pa.ArrowException:  # a row pyarrow cannot read or a value it cannot convert
            return None

    def _plain(self, block: bytes) -> bool:
        """Whether both readers split ``block`` into the same rows and fields, of bounded length."""
        if b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
            return False
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                return False
        bound = min(self.max_bytes, csv.field_size_limit())
        if len(block) > bound:
            lines = pc.split_pattern(pa.array([block], pa.binary()), b"\n").flatten()
            return longest(lines) <= bound
        return True

    def _ticks(self, block: bytes, lines: int) -> TickColumns | list[dict] | None:
        read = pa_csv.ReadOptions(column_names=self._names, use_threads=False, block_size=len(block) + 1)
        table = pa_csv.read_csv(
            pa.BufferReader(block), read_options=read, parse_options=_PARSE, convert_options=self._convert
        )
        if table.num_rows != lines:
            return None
        columns = [column.combine_chunks() for column in table.columns]
        if self._wanted is not None:
            keep = pc.is_in(columns[0], value_set=self._wanted)
            columns = [pc.filter(column, keep) for column in columns]
            if not len(columns[0]):
                return []
        symbol, ts, price, size = columns[:4]
        if pc.min(pc.binary_length(symbol)).as_py() == 0:
            return None
        values = [timestamps(ts, self.ts_range), prices(price), sizes(size)]
        for name, column in zip(self._optional, columns[4:]):
            values.append(
                prices(column, True)
                if name in PRICES
                else sizes(column, True) if name in SIZES else texts(column)
            )
        if any(column is None for column in values):
            return None
        ticks_read = len(symbol)
        if self.share is not None:
            keep = self._owned(symbol)
            if keep is not None:
                symbol, values = symbol.filter(keep), [_kept(column, keep) for column in values]
        values = [column if isinstance(column, list) else column.to_pylist() for column in values]
        symbols = self._symbol_list(symbol)
        return TickColumns(symbols, *values[:3], tuple(zip(self._optional, values[3:])), ticks_read)

    def _owned(self, column: pa.Array) -> pa.Array | None:
        """Which rows of the symbol ``column`` the share owns, or None when it owns them all."""
        encoded = pc.dictionary_encode(column)
        owned = [self.share.owns(name) for name in encoded.dictionary.to_pylist()]
        if all(owned):
            return None
        return pc.take(pa.array(owned, pa.bool_()), encoded.indices)

    def _symbol_list(self, column: pa.Array) -> list[str]:
        """The symbols of ``column``, the same str object for each occurrence of a symbol."""
        encoded = pc.dictionary_encode(column)
        known = self._symbols
        names = [known.setdefault(name, name) for name in encoded.dictionary.to_pylist()]
        return list(map(names.__getitem__, encoded.indices.to_pylist()))


def _kept(column: pa.Array | list, keep: pa.Array) -> pa.Array | list:
    """The values of ``column`` (an array, or a list of mixed ints and floats) where ``keep`` holds."""
    if isinstance(column, list):
        return list(compress(column, keep.to_pylist()))
    return column.filter(keep)


class TickColumns:
    """The ticks of a block as columns of values; ``ticks[start:stop]`` makes their dicts.

    The dicts of a batch are made where the batch is used (on the event loop, just before the
    pipeline reads them), not where the block was read: fresh dicts are still in the cache of
    the core that reads them. Iterating gives every tick.
    """

    def __init__(
        self,
        symbols: list[str],
        ts: list[int],
        prices: list[float],
        sizes: list[int | float],
        optional: tuple[tuple[str, list], ...],
        ticks_read: int | None = None,
    ) -> None:
        self._columns = (symbols, ts, prices, sizes)
        self._optional = optional  # (field, values, None where the tick has no such field)
        self.ticks_read = len(symbols) if ticks_read is None else ticks_read
        """How many ticks the block held before a shard kept its own (see :meth:`owned_by`)."""

    def __len__(self) -> int:
        return len(self._columns[0])

    def owned_by(self, share: ShardShare) -> TickColumns:
        """The ticks of the symbols ``share`` owns (``ticks_read`` still counts every tick)."""
        kept = share.owns_all(self._columns[0])
        if kept is None:
            return self
        columns = [list(compress(column, kept)) for column in self._columns]
        optional = tuple((name, list(compress(values, kept))) for name, values in self._optional)
        return TickColumns(*columns, optional, ticks_read=self.ticks_read)

    def __getitem__(self, part: slice) -> list[dict]:
        symbols, ts, prices, sizes = (column[part] for column in self._columns)
        ticks = [
            {"symbol": s, "ts": t, "price": p, "size": z} for s, t, p, z in zip(symbols, ts, prices, sizes)
        ]
        for name, values in self._optional:
            _add_field(ticks, name, values[part])
        return ticks

    def __iter__(self) -> Iterator[dict]:
        return iter(self[:])


def _add_field(ticks: list[dict], name: str, values: list) -> None:
    """Set field ``name`` of each tick to its value, leaving it out where the value is None."""
    if None in values:
        for tick, value in zip(ticks, values):
            if value is not None:
                tick[name] = value
    else:
        for tick, value in zip(ticks, values):
            tick[name] = value
