"""Benchmark: rows per second into each store, bars and ticks, in large and small batches.

Every writer in :data:`WRITERS` gets the same records: ``--bars`` one-minute bars of 10 symbols
and ``--ticks`` ticks (every seventh repeating the one before, as trades at one nanosecond do),
cut into batches of ``--batch`` rows, and then ``--small`` rows of each in batches of 10 (a live
job's few bars a minute). Each figure is the median of ``--repeat`` runs into a fresh table,
from the first write to the end of ``close``: the writes, their transactions and commits.

The PostgreSQL server is a throwaway one (``tests/support/postgres.py``) on 127.0.0.1 with
fsync and synchronous commits on, as a production server has them. ``postgresql`` is
``sink.store`` as it ships: a batch of ``COPY_MIN_ROWS`` rows or more is copied into a staging
table and moved by one INSERT ... SELECT ... ON CONFLICT, a smaller one goes row by row
(``executemany`` of one INSERT ... ON CONFLICT per row, pipelined). ``COPY only`` and ``rows
only`` force one way for every batch, which is how ``COPY_MIN_ROWS`` was chosen.

A store is added by writing one function ``(bench, table_mode) -> write(batches)`` that opens a
fresh target and returns the function to time, and appending it to :data:`WRITERS` (a store
that takes only bars or only ticks lists the modes it takes).

Run: ``python bench/stores.py [--bars N] [--ticks N] [--batch N] [--small N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime_lib.sinks.postgres_store import COPY_MIN_ROWS, PostgresStore  # noqa: E402
from runtime_lib.sinks.sqlite_store import SqliteStore  # noqa: E402

SYMBOLS = [f"SYM{i}" for i in range(10)]
START_NS = 1_710_000_000_000_000_000
SMALL_BATCH = 10
MODES = ("bars", "ticks")
Write = Callable[[list[list[dict]]], None]


class Bench:
    """What writers share: a scratch folder, and servers started once, on first use."""

    def __init__(self, folder: Path, stack: contextlib.ExitStack) -> None:
        self.folder = folder
        self._stack = stack
        self._servers: dict[str, Any] = {}
        self._names = itertools.count()

    def server(self, name: str, start: Callable[[], contextlib.AbstractContextManager]) -> Any:
        """The server ``name``, started with ``start()`` the first time (stopped when the bench ends)."""
        if name not in self._servers:
            self._servers[name] = self._stack.enter_context(start())
        return self._servers[name]

    def fresh_name(self, stem: str) -> str:
        """A name no earlier run used (``stem_7``), for a file, a database or a stream."""
        return f"{stem}_{next(self._names)}"


@dataclass(frozen=True)
class Writer:
    """A store under test: its name, ``open(bench, table_mode)`` (a fresh target, and the function
    to time), and the table modes it takes."""

    name: str
    open: Callable[[Bench, str], Write]
    modes: tuple[str, ...] = MODES


def write_all(store) -> Write:
    """The function writing every batch to ``store``, then closing it."""

    def write(batches: list[list[dict]]) -> None:
        for batch in batches:
            store.write(batch)
        store.close()

    return write


def sqlite_store(bench: Bench, table_mode: str) -> Write:
    """``sink.store`` into a new SQLite file."""
    path = bench.folder / f"{bench.fresh_name('store')}.db"
    return write_all(SqliteStore("store", url=f"sqlite:///{path}", table_mode=table_mode))


def _postgres_url(bench: Bench) -> str:
    from tests.support.postgres import running_postgres

    durable = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    server = bench.server("postgresql", lambda: running_postgres(durable))
    return server.create_database(bench.fresh_name("bench"))


def postgres_store(copy_min_rows: int) -> Callable[[Bench, str], Write]:
    """The PostgreSQL store into a new database, with COPY from ``copy_min_rows`` rows a batch."""

    def open_store(bench: Bench, table_mode: str) -> Write:
        store = PostgresStore("store", url=_postgres_url(bench), table_mode=table_mode)
        store.copy_min_rows = copy_min_rows
        return write_all(store)

    return open_store


def redis_stream(bench: Bench, table_mode: str) -> Write:
    """``sink.redis_stream`` into a new stream of a throwaway Redis server."""
    from runtime_lib.sinks.redis_stream import RedisStreamSink
    from tests.support.redis_server import running_redis

    server = bench.server("redis", running_redis)
    return write_all(RedisStreamSink("store", url=server.url(), stream=bench.fresh_name(table_mode)))


def parquet_rows(bench: Bench, table_mode: str) -> Write:
    """``sink.parquet`` into a new folder."""
    from runtime_lib.sinks.parquet_sink import ParquetSink

    return write_all(ParquetSink("store", path=str(bench.folder / bench.fresh_name(table_mode))))


WRITERS: list[Writer] = [
    Writer("sqlite", sqlite_store),
    Writer("postgresql", postgres_store(COPY_MIN_ROWS)),
    Writer("postgresql COPY only", postgres_store(0)),
    Writer("postgresql rows only", postgres_store(sys.maxsize)),
    Writer("redis stream", redis_stream),
    Writer("parquet", parquet_rows),
    # another store: append its Writer here
]


def make_bars(count: int, seed: int = 7) -> list[dict]:
    """``count`` one-minute bars of :data:`SYMBOLS`, minute by minute."""
    rng = random.Random(seed)
    bars = []
    for i in range(count):
        price = 100 + rng.random()
        bars.append(
            {
                "symbol": SYMBOLS[i % len(SYMBOLS)],
                "interval": "1m",
                "ts": START_NS + (i // len(SYMBOLS)) * 60_000_000_000,
                "open": price,
                "high": price + 0.5,
                "low": price - 0.5,
                "close": price + 0.1,
                "volume": float(rng.randint(100, 10_000)),
                "count": rng.randint(1, 500),
                "vwap": price + 0.05,
            }
        )
    return bars


def make_ticks(count: int, seed: int = 7) -> list[dict]:
    """``count`` ticks of :data:`SYMBOLS`, 1 ms apart; every seventh repeats the one before."""
    rng = random.Random(seed)
    ticks = []
    for i in range(count):
        if i % 7 == 6:
            ticks.append(dict(ticks[-1]))
            continue
        ticks.append(
            {
                "symbol": SYMBOLS[i % len(SYMBOLS)],
                "ts": START_NS + i * 1_000_000,
                "price": round(100 + rng.random(), 2),
                "size": float(rng.randint(1, 500)),
            }
        )
    return ticks


def batched(records: list[dict], size: int) -> list[list[dict]]:
    """``records`` cut into batches of ``size``."""
    return [records[i : i + size] for i in range(0, len(records), size)]


def rows_per_s(
    bench: Bench, writer: Writer, table_mode: str, batches: list[list[dict]], repeat: int
) -> float:
    """The median rows per second of ``repeat`` runs of ``writer``, each into a fresh target."""
    rows = sum(map(len, batches))
    times = []
    for _ in range(repeat):
        write = writer.open(bench, table_mode)
        started = time.perf_counter()
        write(batches)
        times.append(time.perf_counter() - started)
    return rows / statistics.median(times)


def cell(value: float | None) -> str:
    """A rate for the table, or ``-`` for a mode the writer does not take."""
    return "-" if value is None else f"{value:>12,.0f}"


def main() -> None:
    """Measure every writer and print one table: rows/s per mode and batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    records = {"bars": make_bars(args.bars), "ticks": make_ticks(args.ticks)}
    sizes = ((args.batch, None), (SMALL_BATCH, args.small))
    columns = [f"{mode} /{size}" for size, _ in sizes for mode in MODES]
    print(
        f"rows/s, median of {args.repeat} runs into a fresh table; {args.bars:,} bars and {args.ticks:,} ticks "
        f"in batches of {args.batch}, {args.small:,} of each in batches of {SMALL_BATCH}"
    )
    print(f"{'writer':<24}" + "".join(f"{name:>14}" for name in columns))
    with tempfile.TemporaryDirectory(prefix="mdp-bench-stores-") as folder, contextlib.ExitStack() as stack:
        bench = Bench(Path(folder), stack)
        for writer in WRITERS:
            figures = []
            for size, limit in sizes:
                for mode in MODES:
                    batches = batched(records[mode][:limit], size)
                    taken = mode in writer.modes
                    figures.append(rows_per_s(bench, writer, mode, batches, args.repeat) if taken else None)
            print(f"{writer.name:<24}" + "".join(f"{cell(value):>14}" for value in figures), flush=True)


if __name__ == "__main__":
    main()
