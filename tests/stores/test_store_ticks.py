"""``table_mode: ticks`` on SQLite and PostgreSQL: a replay adds no tick twice, two real trades at
one nanosecond are both kept, a retried write keys its ticks as before, and the compiler says
which records each mode takes."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from compiler.components import lookup
from compiler.components.sinks import StoreParams
from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from runtime_lib.sinks.postgres_store import PostgresStore
from runtime_lib.sinks.sqlite_store import SqliteStore
from runtime_lib.sinks.store_rows import StoreError, open_store
from tests.stores import START_NS, make_ticks, ns, store_config, store_node, write_ticks
from tests.support.jobs import MDP, job_env, parse_summary, run
from tests.support.postgres import running_postgres

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="module")
def postgres():
    """One throwaway server for this module's tests."""
    with running_postgres() as server:
        yield server


class Backend:
    """Opens ticks stores on one database and reads their table back."""

    def __init__(self, kind: str, request, tmp_path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.url = f"sqlite:///{tmp_path / 'ticks.db'}"
        else:
            self.postgres = request.getfixturevalue("postgres")
            self.database = request.node.name.lower().replace("[", "_").replace("]", "")[:60]
            self.url = self.postgres.create_database(self.database)

    def open(self):
        """A new ticks store (a new job's)."""
        return open_store("raw", url=self.url, table_mode="ticks")

    def rows(self) -> list[tuple]:
        """Every stored tick as (symbol, ts in ns, price, size, seq), in key order."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url[len("sqlite:///") :]) as connection:
                return connection.execute(
                    "SELECT symbol, ts, price, size, seq FROM ticks ORDER BY symbol, ts, price, size, seq"
                ).fetchall()
        return self.postgres.query(
            self.database,
            "SELECT symbol, ts_ns, price, size, seq FROM ticks ORDER BY symbol, ts_ns, price, size, seq",
        )


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    """Each test runs on SQLite and on PostgreSQL."""
    return Backend(request.param, request, tmp_path)


def write_in_batches(store, ticks: list[dict], size: int) -> None:
    """Write ``ticks`` in batches of ``size``, then close the store."""
    for start in range(0, len(ticks), size):
        store.write(ticks[start : start + size])
    store.close()


def tick(symbol: str, ts: int, price: float = 10.0, size: float = 1.0) -> dict:
    """A tick at ``ts`` nanoseconds after :data:`START_NS`."""
    return {"symbol": symbol, "ts": START_NS + ts, "price": price, "size": size}


def test_a_replay_adds_no_tick_twice_whatever_its_batches(backend):
    ticks = make_ticks(500)
    write_in_batches(backend.open(), ticks, 64)
    first = backend.rows()
    assert len(first) == len(ticks)  # the repeated ticks are kept: they are trades of their own
    write_in_batches(backend.open(), ticks, 37)  # the same file replayed, cut differently
    assert backend.rows() == first


def test_seq_counts_equal_ticks_since_the_symbols_ts_last_changed(backend):
    store = backend.open()
    store.write([tick("A", 1), tick("A", 1), tick("A", 1, price=10.5), tick("B", 1)])
    store.write([tick("A", 1), tick("A", 2), tick("A", 1)])  # the batch goes on counting A at ts 1
    store.close()
    assert [(symbol, ts - START_NS, price, seq) for symbol, ts, price, _size, seq in backend.rows()] == [
        ("A", 1, 10.0, 0),
        ("A", 1, 10.0, 1),
        ("A", 1, 10.0, 2),
        ("A", 1, 10.5, 0),
        ("A", 2, 10.0, 0),
        ("B", 1, 10.0, 0),
    ]  # the last tick, A at ts 1 again after ts 2, counts from 0 again: a duplicate of the first


def test_a_ticks_store_refuses_a_bars_table(backend):
    bar = {"symbol": "A", "interval": "1s", "ts": START_NS, "open": 1, "high": 1, "low": 1, "close": 1}
    bars = open_store("bars", url=backend.url, table="ticks")  # a bars store on a table named ticks
    bars.write([{**bar, "volume": 1, "count": 1}])
    bars.close()
    with pytest.raises(StoreError, match="does not fit a ticks store") as caught:
        backend.open().write([tick("A", 1)])
    assert not caught.value.transient


def test_a_tick_without_a_price_names_the_field(backend):
    with pytest.raises(StoreError, match=r"no field 'price' \(a tick needs symbol, ts, price, size\)"):
        backend.open().write([{"symbol": "A", "ts": 1, "size": 1}])


def test_postgres_ticks_keep_nanoseconds_beside_a_timestamptz(postgres, tmp_path, request):
    url = postgres.create_database("ticks_ns")
    store = PostgresStore("raw", url=url, table_mode="ticks")
    store.write([tick("A", 1_999), tick("A", -1)])
    store.close()
    rows = postgres.query("ticks_ns", "SELECT ts, ts_ns FROM ticks ORDER BY ts_ns")
    assert [(ns(ts) - START_NS, ts_ns - START_NS) for ts, ts_ns in rows] == [(-1000, -1), (1000, 1999)]


def test_a_write_to_a_locked_sqlite_database_passes_later_with_the_same_keys(tmp_path):
    db = tmp_path / "ticks.db"
    store = SqliteStore("raw", url=f"sqlite:///{db}", table_mode="ticks", retry={"max_attempts": 3})
    store.busy_timeout_s = 0.1
    store.write([tick("A", 1)])
    other = sqlite3.connect(db, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreError, match="database is locked") as caught:
        store.write([tick("A", 1), tick("A", 1)])
    assert store.is_transient(caught.value)
    threading.Timer(0.05, other.rollback).start()
    store.write([tick("A", 1), tick("A", 1)])  # the retry, once the lock is gone
    store.close()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT seq FROM ticks ORDER BY seq").fetchall() == [(0,), (1,), (2,)]


@pytest.mark.parametrize(
    ("mode", "feeder", "lacking"),
    [
        ("table_mode: ticks", "bars", "price, size"),
        ("table_mode: bars", "ticks", "interval, open, high, low, close, volume, count, vwap"),
    ],
)
def test_the_compiler_blames_the_mode_for_records_it_cannot_store(mode, feeder, lacking):
    sinks = {"out": f'      type: sink.store\n      params: {{url: "sqlite:///x.db", {mode}}}'}
    text = store_config("modes", "ticks.csv", sinks).replace("[bars, out]", f"[{feeder}, out]")
    with pytest.raises(DiagnosticError) as caught:
        compile_text("c.yaml", text)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message == f"sink.store needs fields {lacking}, which node {feeder!r} does not give"
    line = text.splitlines()[diagnostic.span.line - 1]
    assert line[diagnostic.span.column - 1 :].startswith(mode.split(": ")[1])  # at the mode's value


def test_a_postgresql_store_compiles_to_a_run_time_url_and_claims_no_local_file():
    url = "postgresql://mdp:${PGPASSWORD}@db.example:5432/market"
    sinks = {"raw_ticks": store_node(url, "ticks"), "store": store_node(url)}
    source = compile_text("c.yaml", store_config("pg", "ticks.csv", sinks)).source
    assert 'url=env_text("postgresql://mdp:${PGPASSWORD}@db.example:5432/market", "raw_ticks"),' in source
    assert 'table="ticks",\n        table_mode="ticks",' in source
    component = lookup("sink.store")
    assert component.files(StoreParams(url=url)) == []
    assert component.files(StoreParams(url="sqlite:///out/x.db")) == [(("url",), "update", "out/x.db")]


def test_mdp_run_twice_into_a_sqlite_ticks_table_keeps_each_tick_once(tmp_path):
    ticks = make_ticks(1000)
    write_ticks(tmp_path / "ticks.csv", ticks)
    sinks = {"raw_ticks": store_node("sqlite:///out/ticks.db", "ticks")}
    (tmp_path / "job.yaml").write_text(store_config("ticks", "ticks.csv", sinks), encoding="utf-8")
    for _ in range(2):
        summary = parse_summary(run([MDP, "run", "job.yaml"], tmp_path, job_env(tmp_path)).stderr)
        assert summary.rows_written["raw_ticks"] == len(ticks)
    with sqlite3.connect(tmp_path / "out" / "ticks.db") as connection:
        stored = connection.execute("SELECT symbol, ts, price, size FROM ticks ORDER BY ts, seq").fetchall()
    assert stored == sorted(
        ((t["symbol"], t["ts"], t["price"], t["size"]) for t in ticks), key=lambda row: row[1]
    )
