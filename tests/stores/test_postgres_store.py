"""The PostgreSQL store against a real server: idempotent bar upserts, exact timestamps, the
table it creates and the tables it refuses, and ``mdp run`` end to end with ``${PGPASSWORD}``."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys

import pytest

from runtime_lib.sink_worker import SinkWorker
from runtime_lib.sinks.postgres_store import PostgresStore
from runtime_lib.sinks.store_rows import StoreError, open_store
from runtime_lib.stats import NodeStats
from tests.stores import START_NS, make_ticks, ns, store_config, store_node, write_ticks
from tests.support.jobs import MDP, job_env, parse_summary, run
from tests.support.postgres import PASSWORD, running_postgres

FAST = {"max_attempts": 5, "initial_backoff": 0.01, "max_backoff": 0.05}
LOADINGS = ("copy", "rows")  # COPY through the staging table, or one INSERT per row


@pytest.fixture(scope="module")
def postgres():
    """One throwaway server for this module's tests (each test makes its own database)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def database(postgres, request) -> tuple[str, str]:
    """A fresh database named after the test, and its url."""
    name = request.node.name.lower().replace("[", "_").replace("]", "")[:60]
    return name, postgres.create_database(name)


def bar(symbol: str, minute: int, close: float, vwap: float | None = 1.5) -> dict:
    """A one-minute bar ``minute`` minutes after :data:`START_NS`."""
    return {
        "symbol": symbol,
        "ts": START_NS - START_NS % 60_000_000_000 + minute * 60_000_000_000,
        "interval": "1m",
        "open": 1.0,
        "high": 2.0,
        "low": 0.5,
        "close": close,
        "volume": 300,
        "count": 3,
        "vwap": vwap,
    }


def bar_table(postgres, database: str, table: str = "bars") -> list[tuple]:
    """Every row of a bar table, ts as nanoseconds, in key order."""
    rows = postgres.query(database, f'SELECT * FROM "{table}" ORDER BY symbol, interval, ts')
    return [(symbol, interval, ns(ts), *rest) for symbol, interval, ts, *rest in rows]


def store_loading(url: str, loading: str, **params) -> PostgresStore:
    """A store that loads every batch by ``copy`` or by ``rows`` (it picks by batch size itself)."""
    store = PostgresStore("store", url=url, **params)
    store.copy_min_rows = 0 if loading == "copy" else sys.maxsize
    return store


@pytest.mark.parametrize("loading", LOADINGS)
def test_bars_written_again_leave_the_same_table(postgres, database, loading):
    name, url = database
    bars = [bar("AAPL", 0, 1.1), bar("AAPL", 1, 1.2), bar("MSFT", 0, 9.9, vwap=None)]
    store = store_loading(url, loading)
    assert store.write(bars) == 3
    first = bar_table(postgres, name)
    assert store.write(bars) == 3
    store.close()
    replay = store_loading(url, "rows" if loading == "copy" else "copy")  # a replay after a restart
    replay.write(bars[::-1])
    replay.close()
    assert bar_table(postgres, name) == first
    assert [row[:3] for row in first] == [
        ("AAPL", "1m", bars[0]["ts"]),
        ("AAPL", "1m", bars[1]["ts"]),
        ("MSFT", "1m", bars[2]["ts"]),
    ]
    assert first[2][3:] == (1.0, 2.0, 0.5, 9.9, 300.0, 3, None)


@pytest.mark.parametrize("loading", LOADINGS)
def test_a_newer_bar_overwrites_and_one_batch_keeps_its_last_version(postgres, database, loading):
    name, url = database
    store = store_loading(url, loading)
    store.write([bar("SPY", 0, 1.0)])
    store.write([bar("SPY", 0, 2.0), bar("SPY", 0, 3.0)])  # one key twice in a batch: the last wins
    store.close()
    assert [row[6] for row in bar_table(postgres, name)] == [3.0]


def test_the_table_has_the_documented_shape_and_key(postgres, database):
    name, url = database
    store = PostgresStore("store", url=url)
    store.write([bar("SPY", 0, 1.0)])
    store.close()
    columns = postgres.query(
        name,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bars' "
        "ORDER BY ordinal_position",
    )
    assert columns == [
        ("symbol", "text"),
        ("interval", "text"),
        ("ts", "timestamp with time zone"),
        ("open", "double precision"),
        ("high", "double precision"),
        ("low", "double precision"),
        ("close", "double precision"),
        ("volume", "double precision"),
        ("count", "bigint"),
        ("vwap", "double precision"),
    ]
    [(key,)] = postgres.query(
        name, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'bars'::regclass"
    )
    assert key == 'PRIMARY KEY (symbol, "interval", ts)'


@pytest.mark.parametrize("loading", LOADINGS)
@pytest.mark.parametrize("ts", [-86_400_000_000_000, 0, 1_710_000_000_123_456_000, 9_223_372_036_854_775_000])
def test_ts_is_stored_exactly_to_the_microsecond(postgres, database, ts, loading):
    name, url = database
    store = store_loading(url, loading)
    store.write([{**bar("SPY", 0, 1.0), "ts": ts}])
    store.close()
    assert [row[2] for row in bar_table(postgres, name)] == [ts]


def test_a_bar_between_microseconds_is_refused_not_rounded(postgres, database):
    _name, url = database
    store = PostgresStore("store", url=url)
    with pytest.raises(StoreError, match=r"ts = 1000000001, not a whole number of microseconds") as caught:
        store.write([{**bar("SPY", 0, 1.0), "ts": 1_000_000_001}])
    assert not store.is_transient(caught.value)
    store.close()


@pytest.mark.parametrize("loading", LOADINGS)
def test_a_count_beyond_64_bits_names_the_bar(postgres, database, loading):
    _name, url = database
    store = store_loading(url, loading)
    with pytest.raises(StoreError) as caught:
        store.write([bar("SPY", 0, 1.0), {**bar("SPY", 1, 1.0), "count": 2**70}])
    assert str(caught.value) == (
        f"count = {2**70} of the bar ('SPY', '1m', {bar('SPY', 1, 1.0)['ts']}) is too large for PostgreSQL "
        "(a 64-bit integer)"
    )
    assert not store.is_transient(caught.value)
    store.close()


def test_a_table_with_other_columns_is_a_permanent_error(postgres, database):
    name, url = database
    postgres.query(name, "CREATE TABLE bars (symbol text, interval text, ts bigint, close real)")
    store = open_store("store", url=url, retry=FAST)
    with pytest.raises(StoreError) as caught:
        store.write([bar("SPY", 0, 1.0)])
    assert str(caught.value) == (
        "table 'bars' does not fit a bars store: it lacks open, high, low, volume, count, vwap; "
        "ts is bigint, not timestamp with time zone; close is real, not double precision "
        "(a bars store writes symbol text, interval text, ts timestamptz, open double precision, "
        "high double precision, low double precision, close double precision, volume double precision, "
        "count bigint, vwap double precision); give the store another table, or move this one away"
    )
    assert not store.is_transient(caught.value)
    assert postgres.query(name, "SELECT count(*) FROM bars") == [(0,)]


def test_a_table_without_the_key_is_a_permanent_error_that_says_so(postgres, database):
    name, url = database
    store = PostgresStore("store", url=url)
    store.write([bar("SPY", 0, 1.0)])
    store.close()
    postgres.query(name, "ALTER TABLE bars DROP CONSTRAINT bars_pkey")
    store = PostgresStore("store", url=url)
    with pytest.raises(
        StoreError, match="needs a primary key or unique index on symbol, interval, ts"
    ) as caught:
        store.write([bar("SPY", 0, 1.0)])
    assert not store.is_transient(caught.value)
    store.close()


def test_a_serialization_failure_is_retried_in_the_same_transaction_shape(postgres, database, caplog):
    """A trigger makes the server fail the first two upserts with SQLSTATE 40001, as a
    serializable transaction that lost a race does; the worker writes the batch again."""
    name, url = database
    store = PostgresStore("store", url=url, retry=FAST)
    store.write([bar("SPY", 0, 1.0)])
    postgres.query(
        name,
        "CREATE SEQUENCE failures; "
        "CREATE FUNCTION fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('failures') <= 2 THEN RAISE EXCEPTION 'could not serialize access' "
        "USING ERRCODE = 'serialization_failure'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER fail_twice BEFORE INSERT ON bars FOR EACH STATEMENT EXECUTE FUNCTION fail_twice()",
    )
    worker = SinkWorker(store, NodeStats("store", "sink.store"))
    bars = [bar("SPY", minute, float(minute)) for minute in range(1, 50)]

    async def drain() -> None:
        writer = asyncio.create_task(worker.run())
        worker.submit(bars)
        await worker.close()
        await asyncio.wait_for(writer, 10)
        await worker.close_sink()

    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        asyncio.run(drain())
    assert len(bar_table(postgres, name)) == 50
    retries = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(retries) == 2 and "could not serialize access" in retries[0], retries


def test_mdp_run_writes_the_same_bars_to_postgresql_as_to_sqlite(postgres, database, tmp_path):
    name, _url = database
    write_ticks(tmp_path / "ticks.csv", make_ticks(3000))
    url = postgres.url(name, "${PGPASSWORD}")
    sinks = {"store": store_node(url), "lite": store_node("sqlite:///out/bars.db")}
    (tmp_path / "job.yaml").write_text(store_config("pgjob", "ticks.csv", sinks), encoding="utf-8")
    env = job_env(tmp_path, PGPASSWORD=PASSWORD)
    result = run([MDP, "run", "job.yaml"], tmp_path, env)
    summary = parse_summary(result.stderr)
    assert summary.rows_written["store"] == summary.rows_written["lite"] == 60
    with sqlite3.connect(tmp_path / "out" / "bars.db") as connection:
        expected = connection.execute("SELECT * FROM bars ORDER BY symbol, interval, ts").fetchall()
    assert bar_table(postgres, name) == expected
    cached = [p.read_text(encoding="utf-8") for p in (tmp_path / "mdp-cache").rglob("*.py")]
    assert cached and all(PASSWORD not in text for text in cached)  # read at run time, never compiled in
    assert PASSWORD not in result.stderr + result.stdout
