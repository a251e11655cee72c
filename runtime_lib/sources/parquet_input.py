"""Read ticks from Parquet: one ``.parquet`` file, or a folder of them (hive partitioned or not).

A folder's files are its ``*.parquet`` files at any depth, read in the order of their sorted
paths (hidden names and names starting with ``_`` skipped, as pyarrow skips them). A file holds
the columns of the CSV: ``symbol``, ``ts``, ``price``, ``size``, optionally ``bid``, ``ask``,
``bid_size``, ``ask_size`` and ``exchange``. A text column missing from a file (``symbol``,
``exchange``) is taken from a ``name=value`` folder between the replayed folder and the file
(``symbol=AAPL``, percent-decoded), as pyarrow writes partitions.

``ts`` is a timestamp with a time zone, or integers of nanoseconds since the epoch; a timestamp
without a time zone stops the replay (a naive time is not guessed), as does a column of the
wrong type or a required column missing. Values become the ticks the CSV reading gives: prices
are floats, sizes ints in an integer column and floats in a float column, and a null optional
value (or an empty ``exchange``) leaves the field out. A row that is not a tick is set aside
with the reasons of :mod:`.tick_rows` (a null is read as an empty cell: ``empty symbol``,
``bad ts``, ``bad price``...) and a ``path: row N: ...`` detail, row N counted from 1 in its
file. Integer ``ts`` in seconds, milliseconds or microseconds stop the replay until the first
tick has been read, and are set aside after it, as in a CSV file.

Each record batch of a file (:data:`BATCH_ROWS` rows) is checked in columns; one that holds any
row that is not plainly a tick is read row by row in Python instead, which is the reference.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from ..errors import JobError
from .shard_share import ShardShare
from .tick_rows import OPTIONAL_COLUMNS, PRICES, REQUIRED_COLUMNS, SIZES, TS_OUT_OF_RANGE, format_bound

try:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .arrow_block import TickColumns
except ImportError:  # the parquet extra is not installed: reading a Parquet input says so
    pa = None

PARQUET_SUFFIX = ".parquet"
BATCH_ROWS = 65_536
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
FROM_FOLDERS = ("symbol", "exchange")
"""The columns a file may leave to its ``name=value`` folders."""
_UNITS = (("seconds", 1_000_000_000), ("milliseconds", 1_000_000), ("microseconds", 1_000))
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_INT64 = 2**63
SetAside = Callable[[str, str], None]


def is_parquet_input(path: str) -> bool:
    """Whether a replay reads ``path`` as Parquet: a name ending in ``.parquet``, or a folder."""
    return path.lower().endswith(PARQUET_SUFFIX) or os.path.isdir(path)


def parquet_files(path: str) -> list[tuple[str, dict[str, str | None]]]:
    """The Parquet files of ``path`` (itself, or those of the folder in sorted order), each with
    the ``name=value`` of the folders between ``path`` and it; a :class:`JobError` when none."""
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise JobError(f"{path}: no such file")
        return [(path, {})]
    found = []
    for folder, folders, names in os.walk(path):
        folders[:] = [name for name in folders if not name.startswith((".", "_"))]
        relative = os.path.relpath(folder, path)
        parts = () if relative == os.curdir else tuple(relative.split(os.sep))
        for name in names:
            if name.lower().endswith(PARQUET_SUFFIX) and not name.startswith((".", "_")):
                found.append((parts + (name,), os.path.join(folder, name)))
    if not found:
        raise JobError(f"{path}: the folder holds no {PARQUET_SUFFIX} files")
    return [(file, _partition(parts[:-1])) for parts, file in sorted(found)]


def _partition(folders: tuple[str, ...]) -> dict[str, str | None]:
    """The values of ``name=value`` folders, percent-decoded (the hive null as None)."""
    values = {}
    for folder in folders:
        name, equals, value = folder.partition("=")
        if equals:
            value = unquote(value)
            values[name] = None if value == HIVE_NULL else value
    return values


class ParquetTicks:
    """The ticks of a Parquet file or folder, in chunks, with how many of its rows were read.

    ``wanted`` keeps only those symbols (other rows are skipped unchecked); a ``share`` keeps
    a shard's symbols after every row is checked (see :mod:`.shard_share`); ``ts_range`` is
    (from, up to) in epoch nanoseconds; ``set_aside(reason, detail)`` takes each row that is
    not a tick. :meth:`position` is (rows read, rows in all the files), known once the files'
    footers have been read.
    """

    def __init__(
        self,
        path: str,
        wanted: frozenset[str] | None,
        ts_range: tuple[int, int],
        set_aside: SetAside,
        share: ShardShare | None = None,
    ) -> None:
        if pa is None:
            raise JobError(f"{path}: reading Parquet needs pyarrow: pip install 'mdp[parquet]'")
        self.path = path
        self.wanted = wanted
        self.share = share
        self.ts_range = ts_range
        self.set_aside = set_aside
        self.seen_tick = False
        self.rows_read = 0
        self.total_rows: int | None = None
        self._wanted = None if wanted is None else pa.array(sorted(wanted), pa.string())

    def position(self) -> tuple[int, int] | None:
        """(rows read, total rows), or None before the footers have been read."""
        return None if self.total_rows is None else (self.rows_read, self.total_rows)

    def chunks(self) -> Iterator[TickColumns | list[dict]]:
        """The ticks of every file in order, a chunk per record batch that holds any."""
        files = parquet_files(self.path)
        self.total_rows = sum(_metadata(file).num_rows for file, _partition in files)
        for file, partition in files:
            yield from self._file_chunks(file, partition)

    def _file_chunks(self, file: str, partition: dict) -> Iterator[TickColumns | list[dict]]:
        """The ticks of one file, whose folders give ``partition``."""
        try:
            reader = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as exc:
            raise JobError(f"{file}: not a readable Parquet file: {exc}") from None
        with reader:
            read, constants = _layout(file, reader.schema_arrow, partition)
            if self.wanted is not None and "symbol" in constants and constants["symbol"] not in self.wanted:
                self.rows_read += reader.metadata.num_rows  # a partition of other symbols: not read
                return
            row = 0
            try:
                for batch in reader.iter_batches(BATCH_ROWS, columns=read):
                    ticks = self._ticks(file, row, batch, constants)
                    row += batch.num_rows
                    self.rows_read += batch.num_rows
                    if ticks:
                        yield ticks
            except (pa.ArrowException, OSError) as exc:
                raise JobError(f"{file}: cannot read row {row + 1} on: {exc}") from None

    def _ticks(self, file: str, row: int, batch, constants: dict) -> TickColumns | list[dict]:
        """The ticks of one record batch whose first row is row ``row + 1`` of ``file``."""
        count = batch.num_rows
        columns = {name: _normal(name, batch.column(name)) for name in batch.schema.names}
        for name, value in constants.items():
            columns[name] = pa.array([value] * count, pa.string())
        rows = None
        if self._wanted is not None and "symbol" not in constants:
            keep = pc.fill_null(pc.is_in(columns["symbol"], value_set=self._wanted), False)
            if not pc.all(keep, min_count=0).as_py():
                rows = pc.indices_nonzero(keep)
                columns = {name: column.filter(keep) for name, column in columns.items()}
                if not len(rows):
                    return []
        ticks = _plain_ticks(columns, self.ts_range)
        if ticks is not None:
            self.seen_tick = self.seen_tick or len(ticks) > 0
            return ticks if self.share is None else ticks.owned_by(self.share)
        numbers = range(row + 1, row + count + 1) if rows is None else [row + 1 + i for i in rows.to_pylist()]
        return self._row_by_row(file, numbers, columns)

    def _row_by_row(self, file: str, numbers, columns: dict) -> list[dict]:
        """The ticks of the rows ``numbers`` (of the file), setting aside those that are not ticks."""
        ts = columns.pop("ts")
        integer_ts = not pa.types.is_timestamp(ts.type)
        scale = 1 if integer_ts else _NS_PER_UNIT[ts.type.unit]
        values = {name: column.to_pylist() for name, column in columns.items()}
        values["ts"] = (ts if integer_ts else ts.cast(pa.int64())).to_pylist()
        optional = [(name, values[name]) for name in OPTIONAL_COLUMNS if name in values]
        ticks = []
        for i, number in enumerate(numbers):
            where = f"{file}: row {number}"
            try:
                tick = {
                    "symbol": _symbol(where, values["symbol"][i]),
                    "ts": self._timestamp(where, values["ts"][i], scale, integer_ts),
                    "price": _price(where, "price", values["price"][i]),
                    "size": _size(where, "size", values["size"][i]),
                }
                for name, column in optional:
                    value = column[i]
                    if value is None or value == "":
                        continue
                    if name in PRICES:
                        value = _price(where, name, value)
                    elif name in SIZES:
                        value = _size(where, name, value)
                    tick[name] = value
            except _Rejected as rejected:
                if self.share is None or self.share.owns(values["symbol"][i]):
                    self.set_aside(rejected.reason, rejected.detail)
                continue
            self.seen_tick = True
            if self.share is None or self.share.owns(tick["symbol"]):
                ticks.append(tick)
        return ticks

    def _timestamp(self, where: str, raw: int | None, scale: int, integer: bool) -> int:
        if raw is None:
            raise _Rejected("bad ts", f"{where}: empty 'ts'")
        ts = raw * scale
        low, high = self.ts_range
        if low <= ts < high:
            return ts
        unit = next((name for name, ns in _UNITS if low <= ts * ns < high), None) if integer else None
        if unit and not self.seen_tick:
            raise JobError(
                f"{where}: ts {ts} looks like {unit} since the epoch; "
                "ts must be integer nanoseconds (or a timestamp with a time zone)"
            )
        detail = f"{where}: ts {ts} is outside ts_range {format_bound(low)}..{format_bound(high)}"
        if unit:
            detail += f"; it looks like {unit} since the epoch, and ts must be integer nanoseconds"
        raise _Rejected(TS_OUT_OF_RANGE, detail)


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _metadata(file: str):
    try:
        return pq.read_metadata(file)
    except FileNotFoundError:
        raise JobError(f"{file}: no such file") from None
    except (pa.ArrowException, OSError) as exc:
        raise JobError(f"{file}: not a readable Parquet file: {exc}") from None


def _layout(file: str, schema, partition: dict) -> tuple[list[str], dict[str, str | None]]:
    """The tick columns to read from ``file`` and those taken from its folders, or a
    :class:`JobError` naming a column that is missing or of a type a tick cannot hold."""
    read, constants = [], {}
    for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        if schema.get_field_index(name) < 0:
            if name in FROM_FOLDERS and name in partition:
                constants[name] = partition[name]
            elif name in REQUIRED_COLUMNS:
                listed = ", ".join(schema.names)
                raise JobError(f"{file}: missing required column {name!r} (columns: {listed:.200})")
            continue
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        problem = _type_problem(name, kind)
        if problem:
            raise JobError(f"{file}: column {name!r} is {kind}; {problem}")
        read.append(name)
    return read, constants


def _type_problem(name: str, kind) -> str | None:
    """Why a column of type ``kind`` cannot hold field ``name`` of ticks, if it cannot."""
    if pa.types.is_null(kind):
        return None
    if name in FROM_FOLDERS:
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
        return None if text else "expected text"
    if name == "ts":
        if pa.types.is_timestamp(kind):
            if kind.tz is None:
                return (
                    "a timestamp without a time zone is not guessed: write it with one (UTC), "
                    "or as integer nanoseconds since the epoch"
                )
            return None
        return (
            None
            if pa.types.is_integer(kind)
            else "expected a timestamp with a time zone, or int64 nanoseconds"
        )
    number = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    return None if number else "expected numbers"


def _normal(name: str, column):
    """``column`` in the types the ticks are made from: text as strings, prices as float64, sizes
    as int64 (integers) or float64, ``ts`` as int64 (integers) or a timestamp."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if name in FROM_FOLDERS:
        return column.cast(pa.string())
    if name == "ts":
        return column.cast(pa.int64()) if pa.types.is_null(kind) else column
    if name in PRICES or not (pa.types.is_integer(kind) or pa.types.is_null(kind)):
        return column.cast(pa.float64(), safe=False)
    return column if pa.types.is_uint64(kind) else column.cast(pa.int64())


def _plain_ticks(columns: dict, ts_range: tuple[int, int]) -> TickColumns | None:
    """The ticks of ``columns`` when every row is plainly a tick, else None."""
    symbol, ts, price, size = (columns[name] for name in REQUIRED_COLUMNS)
    if any(column.null_count for column in (symbol, ts, price, size)):
        return None
    if len(symbol) and pc.min(pc.binary_length(symbol)).as_py() == 0:
        return None
    if pa.types.is_timestamp(ts.type):
        try:
            ts = ts.cast(pa.timestamp("ns", ts.type.tz)).cast(pa.int64())
        except pa.ArrowInvalid:  # beyond 64 bits of nanoseconds: out of any ts_range
            return None
    if len(ts):
        bounds = pc.min_max(ts)
        if bounds["min"].as_py() < ts_range[0] or bounds["max"].as_py() >= ts_range[1]:
            return None
    if not _every(pc.is_finite(price)) or not _plain_sizes(size):
        return None
    optional = []
    for name in OPTIONAL_COLUMNS:
        if name not in columns:
            continue
        column = columns[name]
        if name in PRICES and not _every(pc.is_finite(column)):
            return None
        if name in SIZES and not _plain_sizes(column):
            return None
        if name not in PRICES + SIZES:
            column = pc.if_else(pc.equal(pc.binary_length(column), 0), None, column)
        optional.append((name, column.to_pylist()))
    return TickColumns(
        _symbol_list(symbol), ts.to_pylist(), price.to_pylist(), size.to_pylist(), tuple(optional)
    )


def _plain_sizes(column) -> bool:
    """Whether every size present is finite, not negative and within 64 bits."""
    if pa.types.is_uint64(column.type):
        return not len(column) or (pc.max(column).as_py() or 0) < _INT64
    if pa.types.is_floating(column.type) and not _every(pc.is_finite(column)):
        return False
    return _every(pc.greater_equal(column, 0))


def _every(mask) -> bool:
    """Whether ``mask`` holds wherever it is not null."""
    return pc.all(mask, min_count=0).as_py()


def _symbol_list(column) -> list[str]:
    """The symbols of ``column``, one str object per distinct symbol."""
    encoded = pc.dictionary_encode(column)
    names = encoded.dictionary.to_pylist()
    return list(map(names.__getitem__, encoded.indices.to_pylist()))


def _symbol(where: str, value: str | None) -> str:
    if not value:
        raise _Rejected("empty symbol", f"{where}: empty 'symbol'")
    return value


def _price(where: str, name: str, value: float | None) -> float:
    if value is None:
        raise _Rejected(f"bad {name}", f"{where}: empty {name!r}")
    if not math.isfinite(value):
        raise _Rejected(f"{name} not finite", f"{where}: {name!r} is not a finite number: {value!r}")
    return value


def _size(where: str, name: str, value: int | float | None) -> int | float:
    if value is None:
        raise _Rejected(f"bad {name}", f"{where}: empty {name!r}")
    if isinstance(value, float):
        _price(where, name, value)
    elif value >= _INT64:
        raise _Rejected(f"{name} out of range", f"{where}: {name} {value} is beyond a 64-bit integer")
    if value < 0:
        raise _Rejected(f"negative {name}", f"{where}: {name} {value} is negative")
    return value
