"""What the SQLite and PostgreSQL stores share: the two table modes, the rows each writes from
records, the error that says whether a retry may pass, and which store a url opens.

``table_mode: bars`` upserts one row per ``(symbol, interval, ts)``: a replay overwrites a bar
with itself. ``table_mode: ticks`` appends ticks under the key ``(symbol, ts, price, size,
seq)``, inserting nothing for a key the table holds. ``seq`` tells apart ticks that agree on
everything else: it counts, from 0, the earlier ticks of the same symbol, ts, price and size
since that symbol's ts last changed, in the order the store receives them. A replay of the same
input therefore gives every tick the key it had before (no duplicates), while two real trades
of one symbol at the same nanosecond are both kept, with seq 0 and 1. The count lives in the
store (per symbol, only the symbol's latest ts), so it spans batches but starts again with the
job: the rule holds for a job that replays its input from the start.
"""

from __future__ import annotations

import json
import re
from operator import itemgetter

from ..errors import JobError
from ..retry import RetryPolicy
from .base import non_record, redact_url
from .checkpoint_commits import CommitsWithCheckpoints

BARS, TICKS = "bars", "ticks"
TABLE_MODES = (BARS, TICKS)
BAR_COLUMNS = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "count", "vwap")
BAR_KEY = BAR_COLUMNS[:3]
TICK_COLUMNS = ("symbol", "ts", "price", "size", "seq")
TICK_KEY = TICK_COLUMNS
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_BAR_FIELDS = itemgetter(*BAR_COLUMNS[:-1])  # every column but vwap, which may be absent
_TICK_FIELDS = itemgetter("symbol", "ts", "price", "size")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MARKERS = "mdp_checkpoints"
"""The table where a store commits, with the rows of each checkpoint, the checkpoint's id: one row
per (job, node): lineage, checkpoint, state."""


class StoreError(JobError):
    """A store's failure, in words, and whether writing the same rows again may pass."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def bar_rows(batch: list[dict]) -> list[tuple]:
    """The rows of ``batch``'s bars, in :data:`BAR_COLUMNS` order, one per key (the last wins).

    >>> bar = {"symbol": "A", "interval": "1m", "ts": 0, "open": 1, "high": 2, "low": 1, "close": 2,
    ...        "volume": 5, "count": 2}
    >>> bar_rows([bar, {**bar, "close": 1.5}])
    [('A', '1m', 0, 1, 2, 1, 1.5, 5, 2, None)]
    """
    try:
        rows = [(*_BAR_FIELDS(b), b.get("vwap")) for b in batch]
    except KeyError as exc:
        raise StoreError(f"a record has no field {exc} (a bar needs {', '.join(BAR_COLUMNS)})") from None
    except (TypeError, AttributeError):
        raise StoreError(non_record(batch) or "a record is not a bar") from None
    return list({row[:3]: row for row in rows}.values())


class TickSequence:
    """Numbers ticks as the module docstring says: ``seq`` per (symbol, ts, price, size).

    :meth:`rows` leaves the count as it was; :meth:`commit` moves it on once the rows are
    stored, so a write that failed and is tried again gives its ticks the same keys.

    >>> sequence = TickSequence()
    >>> rows, counts = sequence.rows([{"symbol": "A", "ts": 5, "price": 1.0, "size": 10}] * 2)
    >>> [row[-1] for row in rows], [row[-1] for row in sequence.rows([{"symbol": "A", "ts": 5,
    ...     "price": 1.0, "size": 10}])[0]]
    ([0, 1], [0])
    >>> sequence.commit(counts)
    >>> sequence.rows([{"symbol": "A", "ts": 5, "price": 1.0, "size": 10}])[0]
    [('A', 5, 1.0, 10, 2)]
    """

    def __init__(self) -> None:
        self._latest: dict[str, tuple[int, dict]] = {}  # symbol -> (its latest ts, seen (price, size))

    def rows(self, batch: list[dict]) -> tuple[list[tuple], dict]:
        """The rows of ``batch``'s ticks in :data:`TICK_COLUMNS` order, and the counts to commit."""
        try:
            ticks = [_TICK_FIELDS(tick) for tick in batch]
        except KeyError as exc:
            raise StoreError(f"a record has no field {exc} (a tick needs symbol, ts, price, size)") from None
        except (TypeError, AttributeError):
            raise StoreError(non_record(batch) or "a record is not a tick") from None
        counts: dict[str, tuple[int, dict]] = {}
        rows = []
        for symbol, ts, price, size in ticks:
            latest = counts.get(symbol)
            if latest is None:
                before = self._latest.get(symbol)
                latest = (ts, dict(before[1]) if before and before[0] == ts else {})
            elif latest[0] != ts:
                latest = (ts, {})
            counts[symbol] = latest
            seq = latest[1].get((price, size), 0)
            latest[1][(price, size)] = seq + 1
            rows.append((symbol, ts, price, size, seq))
        return rows, counts

    def commit(self, counts: dict) -> None:
        """Keep the counts of rows that are now stored."""
        self._latest.update(counts)

    def state_text(self) -> str:
        """The counts as JSON text (floats exact), for a checkpoint marker.

        >>> sequence = TickSequence()
        >>> sequence.commit(sequence.rows([{"symbol": "A", "ts": 5, "price": 0.1, "size": 10}])[1])
        >>> sequence.state_text()
        '{"A": [5, [[0.1, 10, 1]]]}'
        """
        return json.dumps(
            {
                symbol: [ts, [[*pair, n] for pair, n in seen.items()]]
                for symbol, (ts, seen) in self._latest.items()
            }
        )

    def restore(self, text: str) -> None:
        """Take back the counts :meth:`state_text` gave."""
        self._latest = {
            symbol: (ts, {(price, size): n for price, size, n in seen})
            for symbol, (ts, seen) in json.loads(text).items()
        }


def too_large(columns: tuple[str, ...], rows: list[tuple], database: str) -> str:
    """Which value of ``rows`` (bars or ticks, by ``columns``) ``database`` cannot store as a 64-bit integer.

    >>> too_large(BAR_COLUMNS, [("AAA", "1m", 0, 1.0, 1.0, 1.0, 1.0, 2**70, 1, None)], "SQLite")
    "volume = 1180591620717411303424 of the bar ('AAA', '1m', 0) is too large for SQLite (a 64-bit integer)"
    """
    noun = "bar" if columns == BAR_COLUMNS else "tick"
    for row in rows:
        for column, value in zip(columns, row):
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                shown = value if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"
                return f"{column} = {shown} of the {noun} {row[:3]!r} is too large for {database} (a 64-bit integer)"
    return f"a value is too large for {database} (a 64-bit integer)"


class StoreSink(CommitsWithCheckpoints):
    """The part of a store that does not depend on the database: its url, its table (by default
    named after the mode), its mode, the rows it makes of a batch, and which of its failures may
    pass when tried again.

    With checkpoints on, rows are kept from one checkpoint to the next and committed in one
    transaction with the checkpoint's marker in :data:`MARKERS` (see
    :mod:`.checkpoint_commits`), so the table always holds exactly the rows of a checkpoint the
    job can resume from.
    """

    def __init__(
        self,
        node_id: str,
        *,
        url: str,
        table: str | None = None,
        table_mode: str = BARS,
        retry: dict | None = None,
    ) -> None:
        super().__init__(node_id, RetryPolicy.from_params(retry))
        self.url = url
        self.target = redact_url(url)
        if table_mode not in TABLE_MODES:
            raise JobError(f"bad table_mode {table_mode!r}: use {' or '.join(TABLE_MODES)}")
        table = table_mode if table is None else table  # bars in table bars, ticks in table ticks
        if not _IDENTIFIER.match(table):
            raise JobError(f"bad table name {table!r}: use letters, digits and underscores")
        self.table = table
        self.table_mode = table_mode
        self.columns = BAR_COLUMNS if table_mode == BARS else TICK_COLUMNS
        self.key = BAR_KEY if table_mode == BARS else TICK_KEY
        self._sequence = TickSequence()

    def write(self, batch: list[dict]) -> int:
        """Write ``batch`` in one transaction (or keep it for the next checkpoint); return its size."""
        rows, counts = self.rows(batch)
        self._stage_or_commit(rows)
        self.stored(counts)
        return len(batch)

    def _state_text(self) -> str:
        """The tick counts (see :class:`TickSequence`), kept in the marker."""
        return self._sequence.state_text()

    def _restore_state(self, text: str) -> None:
        self._sequence.restore(text)

    def rows(self, batch: list[dict]) -> tuple[list[tuple], dict]:
        """The rows to write for ``batch``, and what :meth:`stored` then keeps (tick counts)."""
        return (bar_rows(batch), {}) if self.table_mode == BARS else self._sequence.rows(batch)

    def stored(self, counts: dict) -> None:
        """Note that the rows :meth:`rows` returned with ``counts`` are committed."""
        self._sequence.commit(counts)

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` is a :class:`StoreError` that may pass (a lock, a lost connection)."""
        return isinstance(error, StoreError) and error.transient


def open_store(
    node_id: str, *, url: str, table: str | None = None, table_mode: str = BARS, retry: dict | None = None
) -> StoreSink:
    """The store for ``url``: SQLite for ``sqlite:///``, PostgreSQL for ``postgresql://`` (or
    ``postgres://``, which needs psycopg, the ``postgres`` extra)."""
    if url.startswith(SQLITE_PREFIX):
        from .sqlite_store import SqliteStore

        return SqliteStore(node_id, url=url, table=table, table_mode=table_mode, retry=retry)
    if url.startswith(POSTGRES_PREFIXES):
        try:
            from .postgres_store import PostgresStore
        except ImportError as exc:
            raise JobError(f"a PostgreSQL store needs psycopg ({exc}): pip install 'mdp[postgres]'") from None
        return PostgresStore(node_id, url=url, table=table, table_mode=table_mode, retry=retry)
    raise JobError(
        f"bad store url {redact_url(url)!r}: expected sqlite:///path/to/file.db or "
        "postgresql://user@host:port/database"
    )
