"""Store bars or ticks in SQLite, idempotently: replays overwrite bars and add no tick twice.

The tables (created if missing; ``ts`` is the record's integer nanoseconds since the epoch, UTC):

- bars: ``symbol TEXT, interval TEXT, ts INTEGER, open, high, low, close, volume REAL, count
  INTEGER, vwap REAL``, primary key ``(symbol, interval, ts)``, written as upserts;
- ticks: ``symbol TEXT, ts INTEGER, price REAL, size REAL, seq INTEGER``, primary key
  ``(symbol, ts, price, size, seq)``, a row inserted only when its key is new (``seq``: see
  :mod:`runtime_lib.sinks.store_rows`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import JobError
from .base import redact_url
from .store_rows import BARS, MARKERS, SQLITE_PREFIX, TICKS, StoreError, StoreSink, too_large

URL_PREFIX = SQLITE_PREFIX
_TABLES = {
    BARS: "symbol TEXT NOT NULL, interval TEXT NOT NULL, ts INTEGER NOT NULL, "
    "open REAL, high REAL, low REAL, close REAL, volume REAL, count INTEGER, vwap REAL, "
    "PRIMARY KEY (symbol, interval, ts)",
    TICKS: "symbol TEXT NOT NULL, ts INTEGER NOT NULL, price REAL NOT NULL, size REAL NOT NULL, "
    "seq INTEGER NOT NULL, PRIMARY KEY (symbol, ts, price, size, seq)",
}
_MARKER_COLUMNS = (
    "job TEXT NOT NULL, node TEXT NOT NULL, lineage TEXT NOT NULL, checkpoint INTEGER NOT NULL, state TEXT, "
    "PRIMARY KEY (job, node)"
)
_MARKER_UPSERT = (
    f"INSERT INTO {MARKERS} (job, node, lineage, checkpoint, state) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (job, node) DO UPDATE SET lineage = excluded.lineage, checkpoint = excluded.checkpoint, "
    "state = excluded.state"
)
_PASSING = ("database is locked", "database table is locked", "database is busy")


def sqlite_path(url: str) -> Path:
    """Return the database file of a ``sqlite:///relative.db`` or ``sqlite:////abs.db`` URL.

    Relative paths resolve against the current working directory.

    >>> sqlite_path("sqlite:////var/db/bars.db").as_posix()
    '/var/db/bars.db'
    """
    if not url.startswith(URL_PREFIX) or not url[len(URL_PREFIX) :].strip("/"):
        raise JobError(
            f"bad SQLite URL {redact_url(url)!r}: "
            "expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return Path(url[len(URL_PREFIX) :]).absolute()


def _failure(what: str, exc: sqlite3.Error) -> StoreError:
    """``what`` failed with ``exc``: a lock held by another writer passes, anything else does not."""
    return StoreError(f"{what}: {exc}", transient=any(text in str(exc) for text in _PASSING))


class SqliteStore(StoreSink):
    """Write bars (``table_mode="bars"``) or ticks (``"ticks"``) into ``table`` of the database at ``url``.

    The connection opens on the first write and may then be used from a worker thread (the
    run loop serialises calls). Each batch is one transaction. A write that finds the database
    locked by another writer (after waiting ``busy_timeout_s``) fails as transient, so ``retry``
    tries it again; the table's columns are checked when it is opened.
    """

    busy_timeout_s = 5.0  # how long a write waits for another writer's lock before it fails

    def __init__(self, node_id: str, **params) -> None:
        super().__init__(node_id, **params)  # the keyword arguments of StoreSink
        self.path = sqlite_path(self.url)
        self._connection: sqlite3.Connection | None = None
        names = ", ".join(self.columns)
        conflict = f"ON CONFLICT({', '.join(self.key)}) DO "
        if self.table_mode == BARS:
            conflict += "UPDATE SET " + ", ".join(
                f"{c} = excluded.{c}" for c in self.columns if c not in self.key
            )
        else:
            conflict += "NOTHING"
        self._insert = (
            f'INSERT INTO "{self.table}" ({names}) VALUES ({", ".join("?" * len(self.columns))}) {conflict}'
        )

    def _connect(self) -> sqlite3.Connection:
        """Create the folder, the database and the table if needed, and return the connection."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise JobError(f"cannot open SQLite database {self.path}: {exc}") from None
        try:
            with connection:
                connection.execute(f'CREATE TABLE IF NOT EXISTS "{self.table}" ({_TABLES[self.table_mode]})')
            found = [row[1] for row in connection.execute(f'PRAGMA table_info("{self.table}")')]
        except sqlite3.Error as exc:
            connection.close()
            raise _failure(f"cannot open SQLite database {self.path}", exc) from None
        missing = [column for column in self.columns if column not in found]
        if missing:
            connection.close()
            raise StoreError(
                f"table {self.table!r} of {self.path} does not fit a {self.table_mode} store: it lacks "
                f"{', '.join(missing)} (a {self.table_mode} store writes {', '.join(self.columns)}); "
                "give the store another table, or move this one away"
            )
        return connection

    def _commit(self, rows: list[tuple], marker: tuple | None) -> None:
        """Write ``rows`` (and the checkpoint ``marker``) in one transaction."""
        if self._connection is None:
            self._connection = self._connect()
        try:
            with self._connection:
                self._connection.executemany(self._insert, rows)
                if marker is not None:
                    self._connection.execute(_MARKER_UPSERT, marker)
        except sqlite3.Error as exc:
            raise _failure(f"writing to table {self.table!r} of {self.path} failed", exc) from None
        except OverflowError:
            raise StoreError(too_large(self.columns, rows, "SQLite")) from None

    def _read_marker(self, job: str) -> tuple | None:
        """This node's checkpoint marker for ``job``, creating the marker table if needed."""
        if self._connection is None:
            self._connection = self._connect()
        try:
            with self._connection:
                self._connection.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} ({_MARKER_COLUMNS})")
            return self._connection.execute(
                f"SELECT lineage, checkpoint, state FROM {MARKERS} " "WHERE job = ? AND node = ?",
                (job, self.node_id),
            ).fetchone()
        except sqlite3.Error as exc:
            raise _failure(f"reading the checkpoints of {self.path}", exc) from None

    def close(self) -> None:
        """Commit and close the connection (a store that never wrote has nothing to close)."""
        if self._connection is not None:
            self._connection.commit()
            self._connection.close()
            self._connection = None
