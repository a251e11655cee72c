"""Write records as Parquet files in a folder partitioned by symbol and date, hive style.

A record of symbol ``AAPL`` whose ``ts`` falls on 2024-03-15 (UTC) goes to
``<path>/symbol=AAPL/date=2024-03-15/part-<run>-<seq>.parquet``. The symbol is percent-encoded
in the folder name as pyarrow's hive partitioning encodes it (every byte but letters, digits and
``-._~``), so ``a/b``, ``..`` or ``x=y`` stay one folder below ``path`` and read back unchanged.
Each file also holds the ``symbol`` column (dictionary-encoded, the type pyarrow gives a hive
partition, so pandas merges the two) and ``ts`` as ``timestamp[ns, tz=UTC]``.

Rows are buffered per partition; a partition's file is written when it holds ``rows_per_file``
rows, every partition's when all of them hold ``max_buffered_rows``, and the rest at close. A file
is written under a hidden temporary name (``.part-....parquet.tmp``, which readers skip) in its
partition's folder, synced, then renamed into place: a reader never sees half a file.

The columns are fixed by the first file written: every field of the rows buffered until then,
in the order first seen. Known fields have fixed types (prices, sizes, volume and vwap
``double``; ``count`` ``int64``; ``interval`` and ``exchange`` strings); any other field takes
the type pyarrow infers from those rows, and one that was always null then is left out. A field
that first has a value later is not written, and a warning names it once. So every file of a run has the
same schema, which pandas, polars and DuckDB need to read the folder as one table.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from datetime import date, timedelta
from urllib.parse import quote

from ..errors import JobError
from .base import Sink, non_record

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # the parquet extra is not installed: the sink says so when it is created
    pa = None

APPEND, OVERWRITE = "append", "overwrite"
DEFAULT_ROWS_PER_FILE = 100_000
DEFAULT_MAX_BUFFERED_ROWS = 1_000_000
PARTITION_DATE = "date"
NS_PER_DAY = 86_400 * 1_000_000_000
PART_FILE = re.compile(r"^part-\d+-\d+\.parquet$")
"""The names of the files this sink writes (older runs' included): what ``overwrite`` replaces."""
_EPOCH = date(1970, 1, 1)
_FLOATS = ("price", "bid", "ask", "open", "high", "low", "close", "vwap", "size", "bid_size", "ask_size")
_TEXTS = ("interval", "exchange")
log = logging.getLogger("mdp.job")


def partition_folder(symbol: str, day: date) -> str:
    """The folder, relative to the sink's path, of the rows of ``symbol`` on ``day``.

    >>> partition_folder("AAPL", date(2024, 3, 15))
    'symbol=AAPL/date=2024-03-15'
    >>> partition_folder("../x=y/z", date(2024, 3, 15))
    'symbol=..%2Fx%3Dy%2Fz/date=2024-03-15'
    """
    return f"symbol={quote(symbol, safe='')}/{PARTITION_DATE}={day.isoformat()}"


def utc_date(ts: int) -> date:
    """The UTC date of ``ts`` nanoseconds since the epoch.

    >>> utc_date(1_710_509_400_000_000_000), utc_date(-1)
    (datetime.date(2024, 3, 15), datetime.date(1969, 12, 31))
    """
    return _EPOCH + timedelta(days=ts // NS_PER_DAY)


def known_type(name: str):
    """The column type of a field the built-in schemas name, or None for any other field."""
    if name == "symbol":
        return pa.dictionary(pa.int32(), pa.string())
    if name == "ts":
        return pa.timestamp("ns", tz="UTC")
    if name == "count":
        return pa.int64()
    if name in _FLOATS or name == "volume":
        return pa.float64()
    if name in _TEXTS:
        return pa.string()
    return None


class ParquetSink(Sink):
    """Write records under the folder ``path``, one folder per symbol and UTC date of ``ts``.

    ``mode`` ``append`` (the default) adds new files on every run, so running the same replay
    twice stores its rows twice; ``overwrite`` first removes the older ``part-*.parquet`` files
    of each partition this run writes to, when it writes there first (other partitions and
    other files are left alone). File names hold the time the sink started, in nanoseconds,
    and a sequence number, so runs never clash and sorted names follow the order of writing.
    A record without a text ``symbol`` or an integer ``ts`` is refused with its batch, and the
    job stops. ``write`` returns the rows it took (buffered or written).
    """

    def __init__(
        self,
        node_id: str,
        *,
        path: str,
        rows_per_file: int = DEFAULT_ROWS_PER_FILE,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        mode: str = APPEND,
    ) -> None:
        super().__init__(node_id)
        if pa is None:
            raise JobError("sink.parquet needs pyarrow: pip install 'mdp[parquet]'")
        if rows_per_file < 1 or max_buffered_rows < 1:
            raise ValueError(f"rows_per_file and max_buffered_rows must be at least 1, got {rows_per_file}")
        if mode not in (APPEND, OVERWRITE):
            raise ValueError(f"mode must be {APPEND!r} or {OVERWRITE!r}, got {mode!r}")
        self.path = str(path)
        self.target = self.path
        self.rows_per_file = rows_per_file
        self.max_buffered_rows = max_buffered_rows
        self.mode = mode
        self.files_written = 0
        self.rows_in_files = 0
        self._run = time.time_ns()
        self._buffers: dict[tuple[str, int], list[dict]] = {}
        self._buffered = 0
        self._touched: set[str] = set()  # partition folders this run has written to
        self._schema = None  # fixed by the first file written
        self._left_out: set[str] = set()  # fields not in the schema, warned about once each
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise JobError(f"{self.path}: cannot create the folder: {exc.strerror or exc}") from None
        self._root = os.path.realpath(self.path)

    def write(self, batch: list[dict]) -> int:
        """Buffer the batch's rows by partition, writing the files of the partitions that filled up."""
        refused = non_record(batch)
        if refused:
            raise JobError(refused)
        keys = []
        for number, record in enumerate(batch, 1):
            symbol, ts = record.get("symbol"), record.get("ts")
            if type(symbol) is not str or not symbol or type(ts) is not int:
                raise JobError(_unpartitioned(number, record))
            keys.append((symbol, ts // NS_PER_DAY))
        buffers = self._buffers
        for key, record in zip(keys, batch):
            rows = buffers.get(key)
            if rows is None:
                rows = buffers[key] = []
            rows.append(record)
            self._buffered += 1
            if len(rows) == self.rows_per_file:
                self._flush(key)
        if self._buffered >= self.max_buffered_rows:
            self._flush_all()
        return len(batch)

    def close(self) -> None:
        """Write the files of every partition still buffered."""
        self._flush_all()

    def _flush_all(self) -> None:
        for key in sorted(self._buffers):
            self._flush(key)

    def _flush(self, key: tuple[str, int]) -> None:
        """Write the buffered rows of one partition as one file (all of them, in order)."""
        rows = self._buffers.pop(key)
        self._buffered -= len(rows)
        symbol, day = key
        try:
            folder = os.path.join(self.path, partition_folder(symbol, _EPOCH + timedelta(days=day)))
        except OverflowError:
            raise JobError(
                f"ts {rows[0]['ts']} of symbol {symbol!r} is beyond the dates a file can hold"
            ) from None
        table = self._table(rows)
        name = f"part-{self._run}-{self.files_written:06d}.parquet"
        temporary = os.path.join(folder, f".{name}.tmp")
        try:
            os.makedirs(folder, exist_ok=True)
            if self.mode == OVERWRITE and folder not in self._touched:
                self._remove_older_files(folder)
            self._touched.add(folder)
            with open(temporary, "wb") as out:
                pq.write_table(table, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise JobError(
                f"cannot write {os.path.join(folder, name)}: {exc.strerror or exc}{self._kept()}"
            ) from None
        self.files_written += 1
        self.rows_in_files += len(rows)

    def _table(self, rows: list[dict]):
        """The rows as a table of the sink's schema (fixed now, by these rows, if no file was written)."""
        present = set().union(*rows)
        if self._schema is None:
            buffered = [row for other in self._buffers.values() for row in other]
            self._schema = _schema_of(rows + buffered, present.union(*buffered))
        for name in sorted(present.difference(self._schema.names, self._left_out)):
            if any(row.get(name) is not None for row in rows):
                self._left_out.add(name)
                log.warning(
                    "sink %r: field %r first had a value after the first file fixed the columns (%s); "
                    "it is not written",
                    self.node_id,
                    name,
                    ", ".join(self._schema.names),
                )
        try:
            return pa.Table.from_pylist(rows, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise JobError(f"{self._misfit(rows) or exc}{self._kept()}") from None

    def _misfit(self, rows: list[dict]) -> str | None:
        """Which field of ``rows`` holds a value its column cannot, and why (None if none does)."""
        for field in self._schema:
            try:
                pa.array([row.get(field.name) for row in rows], field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                return (
                    f"field {field.name!r} holds a value that does not fit its column type {field.type} "
                    f"(set by the first file): {exc}"
                )
        return None

    def _remove_older_files(self, folder: str) -> None:
        """Remove the part files of older runs in a partition folder (``overwrite``), never
        anything outside the sink's path (a folder reached through a link elsewhere is refused)."""
        real = os.path.realpath(folder)
        if os.path.commonpath([real, self._root]) != self._root:
            raise JobError(f"{folder} leads outside {self.path} (to {real}); overwrite removes nothing there")
        with os.scandir(folder) as entries:
            older = [entry.path for entry in entries if PART_FILE.match(entry.name) and entry.is_file()]
        for file in older:
            os.remove(file)

    def _kept(self) -> str:
        """What stays written when a write fails, for the message."""
        return f"; the {self.rows_in_files} rows in the {self.files_written} files written before stay"


def _unpartitioned(number: int, record: dict) -> str:
    """Why record ``number`` of a batch cannot be given a partition."""
    return (
        f"record {number} of the batch cannot be partitioned: sink.parquet needs a non-empty text "
        f"'symbol' and an integer 'ts' (nanoseconds since the epoch): {record!r:.200}"
    )


def _schema_of(rows: list[dict], present: set[str]):
    """The columns of the first file: the fields of ``rows`` in the order first seen."""
    if PARTITION_DATE in present:
        raise JobError(f"the records have a field {PARTITION_DATE!r}, the name of the date partition")
    order = {}
    for row in rows:
        if len(order) == len(present):
            break
        order.update(dict.fromkeys(row))
    fields = []
    for name in order:
        kind = known_type(name)
        if kind is None:
            try:
                kind = pa.array([row.get(name) for row in rows]).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise JobError(f"field {name!r} holds values of no one column type: {exc}") from None
            if kind == pa.null():
                continue  # always null so far: no type to give it
        fields.append(pa.field(name, kind))
    return pa.schema(fields)
