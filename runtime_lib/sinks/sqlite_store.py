"""Store bars in SQLite, idempotently: a row per (symbol, interval, ts), replays overwrite."""

from __future__ import annotations

import re
import sqlite3
from operator import itemgetter
from pathlib import Path

from ..errors import JobError
from .base import Sink, non_record, redact_url

URL_PREFIX = "sqlite:///"
COLUMNS = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "count", "vwap")
_KEY = ("symbol", "interval", "ts")
_REQUIRED = itemgetter(*COLUMNS[:-1])  # every column but vwap, which may be absent
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _too_large(rows: list[tuple]) -> str:
    """Which value of ``rows`` SQLite cannot store as a 64-bit integer.

    >>> _too_large([("AAA", "1m", 0, 1.0, 1.0, 1.0, 1.0, 2**70, 1, None)])
    "volume = 1180591620717411303424 of the bar ('AAA', '1m', 0) is too large for SQLite (a 64-bit integer)"
    """
    for row in rows:
        for column, value in zip(COLUMNS, row):
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                shown = value if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"
                return f"{column} = {shown} of the bar {row[:3]!r} is too large for SQLite (a 64-bit integer)"
    return "a value is too large for SQLite (a 64-bit integer)"


class SqliteStore(Sink):
    """Upsert bars into ``table`` of the database at ``url``.

    The connection opens on the first write and may then be used from a worker thread (the
    run loop serialises calls). Each batch is one transaction.
    """

    def __init__(self, node_id: str, *, url: str, table: str = "bars") -> None:
        super().__init__(node_id)
        if not _IDENTIFIER.match(table):
            raise JobError(f"bad table name {table!r}: use letters, digits and underscores")
        self.url = url
        self.target = redact_url(url)
        self.path = sqlite_path(url)
        self.table = table
        self._connection: sqlite3.Connection | None = None
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in _KEY)
        self._upsert = (
            f'INSERT INTO "{table}" ({", ".join(COLUMNS)}) VALUES ({", ".join("?" * len(COLUMNS))}) '
            f"ON CONFLICT({', '.join(_KEY)}) DO UPDATE SET {updates}"
        )

    def _connect(self) -> sqlite3.Connection:
        """Create the folder, the database and the table if needed, and return the connection."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False)
            connection.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "symbol TEXT NOT NULL, interval TEXT NOT NULL, ts INTEGER NOT NULL, "
                "open REAL, high REAL, low REAL, close REAL, volume REAL, count INTEGER, vwap REAL, "
                "PRIMARY KEY (symbol, interval, ts))"
            )
            connection.commit()
        except (OSError, sqlite3.Error) as exc:
            raise JobError(f"cannot open SQLite database {self.path}: {exc}") from None
        return connection

    def write(self, batch: list[dict]) -> int:
        """Upsert ``batch`` in one transaction and return the number of rows written."""
        if self._connection is None:
            self._connection = self._connect()
        try:
            rows = [(*_REQUIRED(b), b.get("vwap")) for b in batch]
        except KeyError as exc:
            raise JobError(f"a record has no field {exc} (a bar needs {', '.join(COLUMNS)})") from None
        except (TypeError, AttributeError):
            raise JobError(non_record(batch) or "a record is not a bar") from None
        try:
            with self._connection:
                self._connection.executemany(self._upsert, rows)
        except sqlite3.Error as exc:
            raise JobError(f"writing to table {self.table!r} of {self.path} failed: {exc}") from None
        except OverflowError:
            raise JobError(_too_large(rows)) from None
        return len(rows)

    def close(self) -> None:
        """Commit and close the connection (a store that never wrote has nothing to close)."""
        if self._connection is not None:
            self._connection.commit()
            self._connection.close()
            self._connection = None
