"""provider.ibkr.stream through a compiled pipeline: fake TWS -> real client library -> bars -> SQLite.

Each test compiles a config whose source points at the fake gateway, builds the job into a
``LiveContext`` and runs it with ``runtime_lib.runner.Run`` in the test's own event loop (the
fake lives there too), then stops it and reads the bars back from a real SQLite file. The
stored bars must equal the bars computed from the scripted data (``scripts.py``): tick bursts
are sent in one socket write, so each symbol's burst gets one arrival time and one minute bar.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from fake_tws import FakeTws
from scripts import (
    MINUTE_NS,
    expected_bar,
    expected_minute_bars,
    five_second_bars,
    play_bars,
    play_trades,
    trade_burst,
    wait_clear_of_minute_boundary,
)

from compiler.cache import import_module_file
from compiler.driver import compile_text
from runtime_lib.errors import JobError
from runtime_lib.metrics import NodeCollector
from runtime_lib.runner import LiveContext, Run, RunOptions

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "dag" / "ibkr_bars.yaml"
FAST_RECONNECT = {"initial_delay": 0.02, "max_delay": 0.2, "max_attempts": 5}
_modules = itertools.count()


# -- helpers --------------------------------------------------------------------------------------


def pipeline(stream: str, symbols, port: int, db: Path) -> dict:
    """A config: ticks (IBKR, ``stream``) -> 1-minute bars (resample_ohlc) -> sink.store at ``db``."""
    return {
        "name": f"ibkr_{stream}",
        "mode": "dag",
        "dag": {
            "nodes": [
                {
                    "id": "ticks",
                    "type": "provider.ibkr.stream",
                    "params": {"port": port, "symbols": list(symbols), "stream": stream,
                               "connect_timeout": 2, "reconnect": FAST_RECONNECT},
                },  # fmt: skip
                {"id": "bars", "type": "operator.resample_ohlc", "params": {"window": "1m"}},
                {"id": "store", "type": "sink.store", "params": {"url": f"sqlite:///{db}"}},
            ],
            "edges": [["ticks", "bars"], ["bars", "store"]],
        },
    }


def example_pipeline(port: int, db: Path) -> dict:
    """configs/dag/ibkr_bars.yaml pointed at the fake gateway and at ``db``, reconnecting fast."""
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    nodes = {node["id"]: node for node in config["dag"]["nodes"]}
    nodes["quotes"]["params"].update(port=port, reconnect=FAST_RECONNECT)
    nodes["store"]["params"]["url"] = f"sqlite:///{db}"
    return config


def compile_job(config: dict, folder: Path):
    """Compile ``config`` with the real compiler and import the generated module."""
    path = folder / f"job_{next(_modules)}.py"
    path.write_text(compile_text(str(folder / "job.yaml"), yaml.safe_dump(config)).source, encoding="utf-8")
    return import_module_file(path, f"mdp_ibkr_job_{path.stem}")


class Job:
    """A compiled job running in the current event loop (``Run.execute`` as a task)."""

    def __init__(self, module, source_id: str = "ticks") -> None:
        self.ctx = LiveContext()
        module.build(self.ctx)
        self.source_id = source_id
        self.run = Run(self.ctx, RunOptions())
        self.task = asyncio.create_task(self.run.execute())

    @property
    def source(self):
        """The running IbkrSource."""
        return self.run.sources[self.source_id]

    async def wait_for_records(self, count: int, timeout: float = 5.0) -> None:
        """Wait until the source has handed ``count`` records to the pipeline."""
        stats = self.ctx.node_stats[self.source_id]
        deadline = asyncio.get_running_loop().time() + timeout
        while stats.events_out < count:
            if self.task.done():
                self.task.result()
                raise AssertionError(f"the job ended after {stats.events_out} of {count} records")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the source emitted {stats.events_out} of {count} records")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop as SIGINT does: the source cancels and disconnects, windows flush, the store closes."""
        self.run.stop.set()
        await self.task


def stored_bars(db: Path) -> list[dict]:
    """Every bar in the store, ordered by symbol, interval and ts."""
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM bars ORDER BY symbol, interval, ts").fetchall()
    return [dict(row) for row in rows]


def bar(**fields) -> dict:
    """A bar with the store's columns, for comparing with :func:`stored_bars`."""
    columns = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume", "count", "vwap")
    return {name: fields[name] for name in columns}


def this_minute() -> int:
    """The start of the current minute in ns (call after ``wait_clear_of_minute_boundary``)."""
    now = time.time_ns()
    return now - now % MINUTE_NS


def quote_walk(count: int, base: float, seed: int) -> list[tuple[str, float, int]]:
    """Quote changes after an opening book (bid ``base``, ask ``base + 0.5``): ``(side, price, size)``.

    Bid and ask take turns; each change gives its side a new, larger size, so no book repeats
    and every change is one quote record. Prices stay on a 0.25 grid with bid below ask.
    """
    steps, bid, ask, state = [], base, base + 0.5, seed
    for i in range(count):
        state = (state * 1103515245 + 12345) % 2**31
        move = (state % 4 - 1.5) * 0.5  # -0.75, -0.25, 0.25 or 0.75
        if i % 2:
            ask = max(ask + move, bid + 0.25)
            steps.append(("ask", ask, 300 + i))
        else:
            bid = min(bid + move, ask - 0.25)
            steps.append(("bid", bid, 100 + i))
    return steps


def play_quotes(tws: FakeTws, symbol: str, base: float, steps) -> list[float]:
    """Send the opening book and ``steps`` (see :func:`quote_walk`); return the midpoints expected."""
    book = {"bid": base, "bid_size": 50, "ask": base + 0.5, "ask_size": 60}
    tws.quote(symbol, **book)
    midpoints = [(book["bid"] + book["ask"]) / 2]
    for side, price, size in steps:
        book[side], book[f"{side}_size"] = price, size
        tws.quote(symbol, **{side: price, f"{side}_size": size})
        midpoints.append((book["bid"] + book["ask"]) / 2)
    return midpoints


def quote_bar(symbol: str, midpoints: list[float], minute: int) -> dict:
    """The 1-minute bar of quote records: OHLC of the midpoints, no volume, hence no VWAP."""
    return bar(symbol=symbol, interval="1m", ts=minute, open=midpoints[0], high=max(midpoints),
               low=min(midpoints), close=midpoints[-1], volume=0, count=len(midpoints), vwap=None)  # fmt: skip


# -- the four streams -----------------------------------------------------------------------------


def test_the_example_config_turns_quotes_into_midpoint_bars(run, tmp_path):
    db = tmp_path / "ibkr_bars.db"
    walks = {"AAPL": (100.0, quote_walk(30, 100.0, seed=3)), "EUR": (1.25, quote_walk(12, 1.25, seed=4))}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(example_pipeline(tws.port, db), tmp_path), source_id="quotes")
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT", "IBM", "EUR"])
            await wait_clear_of_minute_boundary()
            minute = this_minute()
            with tws.batched():
                midpoints = {symbol: play_quotes(tws, symbol, *walk) for symbol, walk in walks.items()}
            await job.wait_for_records(sum(map(len, midpoints.values())))
            await job.stop()
            return job, minute, midpoints

    job, minute, midpoints = run(scenario())
    assert stored_bars(db) == [
        quote_bar("AAPL", midpoints["AAPL"], minute),
        quote_bar("EURUSD", midpoints["EUR"], minute),  # the CASH pair keeps its configured name
    ]
    assert job.ctx.node_stats["unique"].dropped == 0  # every quote record is a new book


def test_trades_become_the_minute_bars_of_the_scripted_trades(run, tmp_path):
    db = tmp_path / "bars.db"
    scripted = {"AAPL": trade_burst(20, 100.0, seed=1), "MSFT": trade_burst(15, 300.0, seed=2)}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("trades", scripted, tws.port, db), tmp_path))
            await tws.wait_subscribed("mktdata", scripted)
            subscribed = set(tws.current.subs)
            await wait_clear_of_minute_boundary()
            minute = this_minute()
            for symbol, trades in scripted.items():
                play_trades(tws, symbol, trades)
            await job.wait_for_records(sum(map(len, scripted.values())))
            await job.stop()
            await tws.wait_disconnected()
            return tws, subscribed, minute

    tws, subscribed, minute = run(scenario())
    assert stored_bars(db) == [bar(**expected_bar(s, trades, minute)) for s, trades in scripted.items()]
    # stopping the job cancelled every subscription before disconnecting
    assert {int(r.fields[2]) for r in tws.requests_named("cancelMktData")} == subscribed
    assert tws.current.closed_by == "client"


def test_tick_by_tick_trades_become_minute_bars(run, tmp_path):
    db = tmp_path / "bars.db"
    scripted = {"AAPL": trade_burst(25, 185.0, seed=5), "IBM": trade_burst(10, 160.0, seed=6)}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("tick_by_tick", scripted, tws.port, db), tmp_path))
            await tws.wait_subscribed("tbt", scripted)
            await wait_clear_of_minute_boundary()
            minute = this_minute()
            with tws.batched():
                for symbol, trades in scripted.items():
                    for second, (price, size) in enumerate(trades):
                        tws.tbt_last(symbol, 1_704_207_600 + second, price, size, exchange="ISLAND")
            await job.wait_for_records(sum(map(len, scripted.values())))
            await job.stop()
            return minute

    minute = run(scenario())
    assert stored_bars(db) == [bar(**expected_bar(s, trades, minute)) for s, trades in scripted.items()]


def test_five_second_bars_become_exact_minute_bars(run, tmp_path):
    db = tmp_path / "bars.db"
    start = 1_704_207_600  # 2024-01-02 15:00:00 UTC: real-time bars carry the server's time
    scripted = {"AAPL": five_second_bars(start, minutes=2), "MSFT": five_second_bars(start, 3, base=300.0)}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("bars", scripted, tws.port, db), tmp_path))
            await tws.wait_subscribed("bars", scripted)
            for symbol, bars in scripted.items():
                play_bars(tws, symbol, bars)
            await job.wait_for_records(sum(map(len, scripted.values())))
            await job.stop()

    run(scenario())
    expected = [bar(**b) for symbol, bars in scripted.items() for b in expected_minute_bars(symbol, bars)]
    assert len(expected) == 5 and stored_bars(db) == expected


# -- resilience and errors ------------------------------------------------------------------------


def test_a_dropped_connection_loses_no_scripted_trade(run, tmp_path, client_errors):
    client_errors.expect("Peer closed connection")
    db = tmp_path / "bars.db"
    before = {"AAPL": trade_burst(12, 100.0, seed=7), "MSFT": trade_burst(8, 300.0, seed=8)}
    after = {"AAPL": trade_burst(9, 101.0, seed=9), "MSFT": trade_burst(11, 299.0, seed=10)}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("trades", before, tws.port, db), tmp_path))
            await tws.wait_subscribed("mktdata", before)
            await wait_clear_of_minute_boundary(margin=3.0)
            minute = this_minute()
            for symbol, trades in before.items():
                play_trades(tws, symbol, trades)
            await job.wait_for_records(20)
            await tws.drop()
            await tws.wait_subscribed("mktdata", before, conn=2)  # reconnected and resubscribed
            for symbol, trades in after.items():
                play_trades(tws, symbol, trades)
            await job.wait_for_records(40)
            reconnects = {f.name: f.samples for f in NodeCollector("j", job.ctx).collect()}
            await job.stop()
            assert this_minute() == minute, "the test crossed a minute boundary"
            return job, minute, reconnects

    job, minute, metrics = run(scenario())
    assert stored_bars(db) == [bar(**expected_bar(s, before[s] + after[s], minute)) for s in before]
    assert job.source.reconnects == 1
    [sample] = metrics["mdp_source_reconnects"]
    assert (sample.name, sample.labels, sample.value) == (
        "mdp_source_reconnects_total",
        {"job": "j", "node": "ticks"},
        1,
    )


def test_an_unknown_symbol_is_named_and_the_others_still_make_bars(run, tmp_path, caplog, client_errors):
    client_errors.expect(r"Error 200, reqId \d+: No security definition")
    db = tmp_path / "bars.db"
    scripted = {"AAPL": trade_burst(10, 100.0, seed=11), "MSFT": trade_burst(10, 300.0, seed=12)}

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("trades", ["AAPL", "ZZZZ", "MSFT"], tws.port, db), tmp_path))
            await tws.wait_subscribed("mktdata", scripted)
            await wait_clear_of_minute_boundary()
            minute = this_minute()
            for symbol, trades in scripted.items():
                play_trades(tws, symbol, trades)
            await job.wait_for_records(20)
            await job.stop()
            return job, minute

    with caplog.at_level(logging.ERROR, logger="runtime_lib"):
        job, minute = run(scenario())
    assert stored_bars(db) == [bar(**expected_bar(s, trades, minute)) for s, trades in scripted.items()]
    assert job.source.unknown_symbols == ["ZZZZ"]
    [message] = [r.getMessage() for r in caplog.records if r.name.startswith("runtime_lib")]
    assert message.startswith("ticks: unknown symbol 'ZZZZ' (STK on SMART in USD): IB error 200")


def test_a_job_without_a_known_symbol_fails_with_a_job_error(run, tmp_path, client_errors):
    client_errors.expect("Error 200")
    db = tmp_path / "bars.db"

    async def scenario():
        async with FakeTws() as tws:
            job = Job(compile_job(pipeline("quotes", ["ZZZZ"], tws.port, db), tmp_path))
            with pytest.raises(JobError) as caught:
                await job.task
            return str(caught.value)

    message = run(scenario())
    assert (
        message.startswith("none of the symbols is known to TWS/IB Gateway at 127.0.0.1:")
        and "ZZZZ" in message
    )
    assert not db.exists()
