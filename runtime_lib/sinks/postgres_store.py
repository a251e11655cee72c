"""Store bars or ticks in PostgreSQL, idempotently, each batch in one transaction.

The tables (created if missing, and checked when the store connects):

- bars: ``symbol text, interval text, ts timestamptz, open, high, low, close, volume double
  precision, count bigint, vwap double precision``, primary key ``(symbol, interval, ts)``,
  written as upserts (``INSERT ... ON CONFLICT DO UPDATE``). ``ts`` is the bar's start, a window
  boundary: timestamptz keeps microseconds, so a bar whose ts is not a whole microsecond is
  refused (a permanent error) rather than rounded onto another bar's key.
- ticks: ``symbol text, ts timestamptz, ts_ns bigint, price double precision, size double
  precision, seq integer``, primary key ``(symbol, ts_ns, price, size, seq)``, a row inserted only
  when its key is new (``ON CONFLICT DO NOTHING``). ``ts_ns`` is the tick's exact time in
  nanoseconds, the key; ``ts`` is the same instant rounded down to the microsecond, for queries.
  ``seq``: see :mod:`runtime_lib.sinks.store_rows`.

Records' ``ts`` (integer nanoseconds, UTC) becomes timestamptz exactly to the microsecond: it is
sent as integer microseconds and converted by the server. A batch of :data:`COPY_MIN_ROWS` rows
or more is copied (``COPY``) into a temporary staging table and moved into the table by one
``INSERT ... SELECT ... ON CONFLICT``; a smaller one (a live job's few bars) is sent as one
such INSERT per row, pipelined. Either way the batch is one transaction. ``bench/stores.py``
measures both: COPY is about twice as fast for batches of a thousand rows, row inserts about
1.5 times as fast for batches of ten.

A failure that may pass is transient (:meth:`StoreSink.is_transient`), so the run loop writes
the batch again: the server refusing or dropping connections (restarting, shutting down, not
yet accepting them, too many clients), serialization failures and deadlocks. After a lost
connection the next write connects again. Bad credentials, a database or role that does not
exist, a table whose columns do not fit, and bad values are permanent. Messages never show the
password.
"""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import JobError
from .store_rows import BARS, MARKERS, POSTGRES_PREFIXES, TICKS, StoreError, StoreSink, too_large

CONNECT_TIMEOUT_S = 10
COPY_MIN_ROWS = 20  # the batch size from which COPY beats row inserts (bench/stores.py)
STAGE = "mdp_store_stage"
_TIMESTAMPTZ = "timestamp with time zone"
_FLOAT = "double precision"
TABLES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    BARS: (
        ("symbol", "text", True),
        ("interval", "text", True),
        ("ts", _TIMESTAMPTZ, True),
        *((name, _FLOAT, False) for name in ("open", "high", "low", "close", "volume")),
        ("count", "bigint", False),
        ("vwap", _FLOAT, False),
    ),
    TICKS: (
        ("symbol", "text", True),
        ("ts", _TIMESTAMPTZ, True),
        ("ts_ns", "bigint", True),
        ("price", _FLOAT, True),
        ("size", _FLOAT, True),
        ("seq", "integer", True),
    ),
}
"""Each mode's table: (column, type as ``format_type`` names it, NOT NULL)."""
KEYS = {BARS: ("symbol", "interval", "ts"), TICKS: ("symbol", "ts_ns", "price", "size", "seq")}
_US = '"ts_us"'
_TS_FROM_US = f"to_timestamp({_US} / 1000000) + ({_US} % 1000000) * interval '1 microsecond'"
_MARKER_COLUMNS = (
    "job text NOT NULL, node text NOT NULL, lineage text NOT NULL, checkpoint bigint NOT NULL, state text, "
    "PRIMARY KEY (job, node)"
)
_MARKER_UPSERT = (
    f"INSERT INTO {MARKERS} (job, node, lineage, checkpoint, state) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (job, node) DO UPDATE SET lineage = EXCLUDED.lineage, checkpoint = EXCLUDED.checkpoint, "
    "state = EXCLUDED.state"
)
_PASSING_STATES = {"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03"}
_REFUSED = re.compile(
    r"authentication failed|no pg_hba\.conf entry|does not exist|no password supplied|"
    r"permission denied|SSL was required|certificate|invalid",
    re.IGNORECASE,
)
"""What a failed connection says when trying again would not help (a server that answers, but no)."""


def _quoted(name: str) -> str:
    return f'"{name}"'


def stage_columns(table_mode: str) -> list[tuple[str, str]]:
    """The staging table's columns: the table's, with ``ts`` sent as integer microseconds ``ts_us``."""
    return [("ts_us", "bigint") if name == "ts" else (name, kind) for name, kind, _ in TABLES[table_mode]]


def move_sql(table: str, table_mode: str, source: str) -> str:
    """``INSERT INTO table ... SELECT ... FROM source ON CONFLICT ...``: upsert bars, add new ticks.

    ``source`` holds the staging columns (``ts_us`` for ``ts``): the staging table, or a ``VALUES`` list.
    """
    names = [name for name, _, _ in TABLES[table_mode]]
    selected = [_TS_FROM_US if name == "ts" else _quoted(name) for name in names]
    key = KEYS[table_mode]
    if table_mode == BARS:
        updates = ", ".join(f"{_quoted(n)} = EXCLUDED.{_quoted(n)}" for n in names if n not in key)
        action = f"UPDATE SET {updates}"
    else:
        action = "NOTHING"
    return (
        f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, names))}) SELECT {', '.join(selected)} "
        f"FROM {source} ON CONFLICT ({', '.join(map(_quoted, key))}) DO {action}"
    )


def row_insert_sql(table: str, table_mode: str) -> str:
    """:func:`move_sql` from a ``VALUES`` row of placeholders: the statement to run once per row.

    >>> row_insert_sql("ticks", "ticks").split(" FROM ")[1].split(" ON ")[0]
    '(VALUES (%s::text, %s::bigint, %s::bigint, %s::double precision, %s::double precision, %s::integer)) AS v("symbol", "ts_us", "ts_ns", "price", "size", "seq")'
    """
    columns = stage_columns(table_mode)
    values = ", ".join(f"%s::{kind}" for _name, kind in columns)
    names = ", ".join(_quoted(name) for name, _kind in columns)
    moving = move_sql(table, table_mode, "v").replace(
        "%", "%%"
    )  # a literal % in a statement with placeholders
    return moving.replace(" FROM v ", f" FROM (VALUES ({values})) AS v({names}) ", 1)


def staged_rows(table_mode: str, rows: list[tuple]) -> list[tuple]:
    """``rows`` (:data:`~runtime_lib.sinks.store_rows.BAR_COLUMNS` or ``TICK_COLUMNS`` order) as the
    staging table takes them: ``ts`` in microseconds (ticks also keep it in nanoseconds).

    >>> staged_rows("ticks", [("A", 1_500, 2.0, 1.0, 0)])
    [('A', 1, 1500, 2.0, 1.0, 0)]
    """
    if table_mode != BARS:
        return [(symbol, ts // 1000, ts, price, size, seq) for symbol, ts, price, size, seq in rows]
    staged = []
    for row in rows:
        ts = row[2]
        if not isinstance(ts, int) or ts % 1000:
            raise StoreError(
                f"the bar {row[:3]!r} starts at ts = {ts!r}, not a whole number of microseconds: "
                "PostgreSQL keeps timestamps to the microsecond, so this bar would take another's key"
            )
        staged.append((row[0], row[1], ts // 1000, *row[3:]))
    return staged


def _server_text(exc: psycopg.Error) -> str:
    """What the server or libpq said, on one line, without psycopg's and libpq's prefixes."""
    lines = str(exc).strip().splitlines()
    text = exc.diag.message_primary or (lines[0] if lines else "")
    text = text.removeprefix("connection failed: ")
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1]
    return " ".join(text.split()) or type(exc).__name__


def is_passing(exc: psycopg.Error, connecting: bool) -> bool:
    """Whether ``exc`` may pass when tried again: a lost or refused connection, a server going
    down or starting, a serialization failure, a deadlock, a lock wait or too many clients."""
    state = exc.sqlstate
    if state:
        return state in _PASSING_STATES or state.startswith("08")
    if isinstance(exc, psycopg.OperationalError):
        return not (connecting and _REFUSED.search(str(exc)))
    return False


def _table_problems(table_mode: str, found: dict[str, str]) -> list[str]:
    """How the columns ``found`` (name -> type) differ from those a ``table_mode`` store writes."""
    columns = TABLES[table_mode]
    missing = [name for name, _, _ in columns if name not in found]
    problems = [f"it lacks {', '.join(missing)}"] if missing else []
    problems += [
        f"{name} is {found[name]}, not {kind}" for name, kind, _ in columns if found.get(name, kind) != kind
    ]
    return problems


def _listed(table_mode: str) -> str:
    """The columns of a ``table_mode`` table and their types, short (``ts timestamptz``).

    >>> _listed("ticks")
    'symbol text, ts timestamptz, ts_ns bigint, price double precision, size double precision, seq integer'
    """
    return ", ".join(
        f"{name} {kind.replace(_TIMESTAMPTZ, 'timestamptz')}" for name, kind, _ in TABLES[table_mode]
    )


class PostgresStore(StoreSink):
    """Write bars (``table_mode="bars"``) or ticks (``"ticks"``) into ``table`` of the PostgreSQL
    database at ``url`` (``postgresql://user:password@host:port/database?options``).

    The connection opens on the first write (and again after it was lost) and is then used from
    the sink's worker thread. ``retry`` is the ``retry`` param as
    :meth:`~runtime_lib.retry.RetryPolicy.from_params` reads it.
    """

    copy_min_rows = COPY_MIN_ROWS  # batches this large go through COPY, smaller ones row by row

    def __init__(self, node_id: str, **params) -> None:
        super().__init__(node_id, **params)  # the keyword arguments of StoreSink
        url, table_mode = self.url, self.table_mode
        if not url.startswith(POSTGRES_PREFIXES):
            raise JobError(
                f"bad PostgreSQL URL {self.target!r}: expected postgresql://user@host:port/database"
            )
        try:
            self._params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise JobError(f"bad PostgreSQL URL {self.target!r}: {_server_text(exc)}") from None
        self._params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        self._params.setdefault("application_name", f"mdp {node_id}")
        self._secret = self._params.get("password") or None
        self._connection: psycopg.Connection | None = None
        stage = ", ".join(f"{_quoted(name)} {kind}" for name, kind in stage_columns(table_mode))
        self._create_stage = f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ({stage}) ON COMMIT DELETE ROWS"
        self._copy = f"COPY {STAGE} FROM STDIN"
        self._move = move_sql(self.table, table_mode, STAGE)
        self._row_insert = row_insert_sql(self.table, table_mode)

    def _commit(self, rows: list[tuple], marker: tuple | None) -> None:
        """Write ``rows`` (and the checkpoint ``marker``) in one transaction."""
        staged = staged_rows(self.table_mode, rows)
        connection = self._connection or self._connect()
        try:
            with connection.transaction(), connection.cursor() as cursor:
                self._load(cursor, staged)
                if marker is not None:
                    cursor.execute(_MARKER_UPSERT, marker)
        except psycopg.errors.NumericValueOutOfRange:
            raise StoreError(too_large(self.columns, rows, "PostgreSQL")) from None
        except psycopg.Error as exc:
            self._lost(connection, exc)
            raise self._failure(f"writing to table {self.table!r} failed", exc, connecting=False) from None

    def _read_marker(self, job: str) -> tuple | None:
        """This node's checkpoint marker for ``job``, creating the marker table if needed."""
        connection = self._connection or self._connect()
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mdp store {MARKERS}"])
                connection.execute(f"CREATE TABLE IF NOT EXISTS {MARKERS} ({_MARKER_COLUMNS})")
            return connection.execute(
                f"SELECT lineage, checkpoint, state FROM {MARKERS} " "WHERE job = %s AND node = %s",
                [job, self.node_id],
            ).fetchone()
        except psycopg.Error as exc:
            self._lost(connection, exc)
            raise self._failure("reading the checkpoints", exc, connecting=False) from None

    def _lost(self, connection: psycopg.Connection, exc: psycopg.Error) -> None:
        """Forget a connection that ``exc`` broke, so the next write connects again."""
        if connection.closed or connection.broken or isinstance(exc, psycopg.OperationalError):
            self._drop_connection()

    def _load(self, cursor: psycopg.Cursor, staged: list[tuple]) -> None:
        """Write ``staged`` inside the transaction: copied into the staging table and moved into
        the table, or, for a small batch, inserted row by row."""
        if len(staged) < self.copy_min_rows:
            cursor.executemany(self._row_insert, staged)
            return
        with cursor.copy(self._copy) as copy:
            for row in staged:
                copy.write_row(row)
        cursor.execute(self._move)

    def close(self) -> None:
        """Close the connection (every batch is committed when its write returns)."""
        self._drop_connection()

    def _connect(self) -> psycopg.Connection:
        """Connect, create the table if missing (under a lock, so stores sharing it do not race),
        check its columns, and create this session's staging table."""
        try:
            connection = psycopg.connect(**self._params, autocommit=True)
        except psycopg.Error as exc:
            raise self._failure("cannot connect to PostgreSQL", exc, connecting=True) from None
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mdp store {self.table}"])
                connection.execute(self._create_table())
                found = connection.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                    [_quoted(self.table)],
                ).fetchall()
            problems = _table_problems(self.table_mode, dict(found))
            if problems:
                raise StoreError(
                    f"table {self.table!r} does not fit a {self.table_mode} store: {'; '.join(problems)} "
                    f"(a {self.table_mode} store writes {_listed(self.table_mode)}); "
                    "give the store another table, or move this one away"
                )
            connection.execute(self._create_stage)
        except psycopg.Error as exc:
            connection.close()
            raise self._failure(f"cannot prepare table {self.table!r}", exc, connecting=False) from None
        except StoreError:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _create_table(self) -> str:
        columns = [
            f"{_quoted(name)} {kind}{' NOT NULL' if not_null else ''}"
            for name, kind, not_null in TABLES[self.table_mode]
        ]
        key = ", ".join(map(_quoted, KEYS[self.table_mode]))
        return f"CREATE TABLE IF NOT EXISTS {_quoted(self.table)} ({', '.join(columns)}, PRIMARY KEY ({key}))"

    def _failure(self, what: str, exc: psycopg.Error, connecting: bool) -> StoreError:
        """The :class:`StoreError` for ``exc``, transient when it may pass, without the password."""
        text = f"{what}: {_server_text(exc)}"
        if exc.sqlstate == "42P10":
            text += f" (the table needs a primary key or unique index on {', '.join(KEYS[self.table_mode])})"
        if self._secret:
            text = text.replace(self._secret, "***")
        return StoreError(text, transient=is_passing(exc, connecting))

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
