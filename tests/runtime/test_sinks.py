"""SqliteStore, JsonlSink and NullSink."""

from __future__ import annotations

import json
import sqlite3

import pytest

from runtime_lib.errors import JobError
from runtime_lib.sinks.jsonl import JsonlSink
from runtime_lib.sinks.null import NullSink
from runtime_lib.sinks.sqlite_store import SqliteStore


def bar(symbol: str, minute: int, close: float, vwap: float | None = 1.5) -> dict:
    """A one-minute bar starting ``minute`` minutes after the epoch."""
    return {
        "symbol": symbol,
        "ts": minute * 60_000_000_000,
        "interval": "1m",
        "open": 1.0,
        "high": 2.0,
        "low": 0.5,
        "close": close,
        "volume": 300.0,
        "count": 3,
        "vwap": vwap,
    }


def rows(path, table: str = "bars") -> list[tuple]:
    """Every row of ``table``, in key order."""
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY symbol, interval, ts").fetchall()


def test_sqlite_upsert_is_idempotent(tmp_path):
    db = tmp_path / "bars.db"
    store = SqliteStore("store", url=f"sqlite:///{db}")
    bars = [bar("AAPL", 0, 1.1), bar("AAPL", 1, 1.2), bar("MSFT", 0, 9.9, vwap=None)]
    assert store.write(bars) == 3
    assert store.write(bars) == 3
    assert len(rows(db)) == 3
    assert store.write([bar("AAPL", 1, 1.7)]) == 1
    store.close()
    assert rows(db) == [
        ("AAPL", "1m", 0, 1.0, 2.0, 0.5, 1.1, 300.0, 3, 1.5),
        ("AAPL", "1m", 60_000_000_000, 1.0, 2.0, 0.5, 1.7, 300.0, 3, 1.5),
        ("MSFT", "1m", 0, 1.0, 2.0, 0.5, 9.9, 300.0, 3, None),
    ]
    reopened = SqliteStore("store", url=f"sqlite:///{db}")
    reopened.write(bars)  # a replay after a restart
    reopened.close()
    assert len(rows(db)) == 3


def test_sqlite_relative_url_creates_folders_under_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SqliteStore("store", url="sqlite:///out/deep/bars.db", table="minute_bars")
    assert not (tmp_path / "out").exists()  # opened lazily
    store.write([bar("SPY", 0, 5.0)])
    store.close()
    assert len(rows(tmp_path / "out" / "deep" / "bars.db", "minute_bars")) == 1


def test_sqlite_absolute_url(tmp_path):
    db = tmp_path / "abs" / "bars.db"
    assert str(db).startswith("/")
    store = SqliteStore("store", url="sqlite:///" + str(db))  # four slashes in all
    store.write([bar("SPY", 0, 5.0)])
    store.close()
    assert db.exists()


def test_sqlite_write_from_another_thread(tmp_path):
    import threading

    store = SqliteStore("store", url=f"sqlite:///{tmp_path / 'bars.db'}")
    store.write([bar("A", 0, 1.0)])
    thread = threading.Thread(target=store.write, args=([bar("A", 1, 1.0)],))
    thread.start()
    thread.join()
    store.close()
    assert len(rows(tmp_path / "bars.db")) == 2


@pytest.mark.parametrize("url", ["postgresql://host/db", "sqlite://bars.db", "sqlite:///", "bars.db"])
def test_sqlite_bad_url(url):
    with pytest.raises(JobError, match="bad SQLite URL"):
        SqliteStore("store", url=url)


def test_sqlite_bad_table_name(tmp_path):
    with pytest.raises(JobError, match="bad table name"):
        SqliteStore("store", url=f"sqlite:///{tmp_path / 'b.db'}", table="bars; DROP TABLE x")


def test_sqlite_record_without_bar_fields(tmp_path):
    store = SqliteStore("store", url=f"sqlite:///{tmp_path / 'b.db'}")
    with pytest.raises(JobError, match="no field 'interval'"):
        store.write([{"symbol": "A", "ts": 0}])
    store.close()


def test_jsonl_to_file(tmp_path):
    path = tmp_path / "out" / "ticks.jsonl"
    path.parent.mkdir()
    path.write_text("stale\n")
    sink = JsonlSink("out", path=str(path))
    assert path.read_text() == "stale\n"  # kept until the job writes (a resumed job cuts it back instead)
    assert sink.write([{"symbol": "A", "price": 1.5, "vwap": None}, {"symbol": "B", "ok": True}]) == 2
    sink.write([{"n": 3}])
    sink.close()
    assert path.read_text() == '{"symbol":"A","price":1.5,"vwap":null}\n{"symbol":"B","ok":true}\n{"n":3}\n'


def test_jsonl_that_writes_nothing_leaves_an_empty_file(tmp_path):
    path = tmp_path / "ticks.jsonl"
    path.write_text("stale\n")
    JsonlSink("out", path=str(path)).close()
    assert path.read_text() == ""


def test_jsonl_creates_folders(tmp_path):
    sink = JsonlSink("out", path=str(tmp_path / "a" / "b" / "x.jsonl"))
    sink.write([{"a": 1}])
    sink.close()
    assert [json.loads(line) for line in (tmp_path / "a" / "b" / "x.jsonl").read_text().splitlines()] == [
        {"a": 1}
    ]


def test_jsonl_to_stdout(capsys):
    sink = JsonlSink("out", path="-")
    assert sink.write([{"symbol": "A", "size": 100}]) == 1
    sink.close()
    print("still open")
    assert capsys.readouterr().out == '{"symbol":"A","size":100}\nstill open\n'


def test_null_sink_counts():
    sink = NullSink("discard")
    assert sink.write([{}] * 5) == 5
    assert sink.write([]) == 0
    sink.close()
    assert (sink.rows, sink.batches) == (5, 2)
