"""The IBKR provider against a fake TWS, through the real client library (ib_insync or ib_async).

Each test runs its own event loop (``run`` fixture) with the fake gateway and the source in it.
Any ERROR record from the client library fails the test unless the test expects it
(``client_errors.expect``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections import namedtuple
from datetime import UTC, datetime

import pytest
from fake_tws import FakeTws
from prometheus_client import CollectorRegistry
from scripts import expected_bar, five_second_bars, ohlc, play_bars, play_trades, trade_burst

from runtime_lib.errors import JobError
from runtime_lib.sources.ibkr import IbkrSource
from runtime_lib.sources.ibkr_contracts import load_client_library
from runtime_lib.sources.ibkr_pacing import RequestPacer
from runtime_lib.sources.ibkr_records import QuoteBook

FAST_RECONNECT = {"initial_delay": 0.02, "max_delay": 0.2, "max_attempts": 5}


class Consumer:
    """Pulls the source's batches in a background task, as the run loop does."""

    def __init__(self, source: IbkrSource) -> None:
        self.source = source
        self.records: list[dict] = []
        self.batches = 0
        self.task = asyncio.create_task(self._pull())

    async def _pull(self) -> None:
        async for batch in self.source.batches():
            self.batches += 1
            self.records.extend(batch)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until ``count`` records arrived; return them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.records) < count:
            if self.task.done():
                self.task.result()
                raise AssertionError(f"stream ended after {len(self.records)} of {count} records")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(self.records)} of {count} records: {self.records}")
            await asyncio.sleep(0.005)
        return self.records

    async def stop(self) -> None:
        """Close the source; the stream then ends."""
        await self.source.close()
        await self.task


def source(tws: FakeTws, symbols=("AAPL", "MSFT"), **params) -> IbkrSource:
    """An IbkrSource pointed at the fake, with fast reconnects and its own metrics registry."""
    params.setdefault("reconnect", FAST_RECONNECT)
    params.setdefault("registry", CollectorRegistry())
    return IbkrSource("ticks", port=tws.port, symbols=symbols, **params)


def without_ts(records):
    return [{k: v for k, v in r.items() if k != "ts"} for r in records]


def by_symbol(records):
    """Records without ``ts``, grouped by symbol in arrival order.

    Within one socket read the client library hands over tickers as a set, so only the order
    within a symbol is defined; that is also the only order event-time windows depend on.
    """
    return sorted(without_ts(records), key=lambda r: r["symbol"])


def quote_record(symbol: str, midpoint: float, bid: tuple, ask: tuple) -> dict:
    """An expected quote record (without ``ts``); ``bid`` and ``ask`` are (price, size)."""
    record = dict(symbol=symbol, price=midpoint, size=0.0)
    return record | dict(bid=bid[0], bid_size=bid[1], ask=ask[0], ask_size=ask[1])


def bar_5s(symbol: str, time_s: int, open_, high, low, close, volume, vwap, count) -> dict:
    """An expected 5-second Bar record, from the fields in the order IB sends them."""
    record = dict(symbol=symbol, ts=time_s * 10**9, interval="5s", open=open_, high=high, low=low)
    return record | dict(close=close, volume=volume, count=count, vwap=vwap)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the four streams ---------------------------------------------------------------------------


def test_quotes_are_midpoints_with_the_book_and_skip_empty_values(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, stream="quotes"))
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            before = time.time_ns()
            with tws.batched():
                # a record once both sides are known, then one per change of the book
                tws.quote("AAPL", bid=100.0, bid_size=300, ask=100.5, ask_size=200)
                tws.quote("MSFT", bid=300.25, bid_size=10, ask=300.75, ask_size=20)
                tws.quote("AAPL", bid=100.0, bid_size=300)  # unchanged: nothing
                tws.trade("AAPL", 100.25, 50)  # a trade is not a quote
                tws.tick_size("AAPL", 0, 400)  # bid size moves: 1 record
                tws.tick_price("AAPL", 2, -1, 0)  # ask side empty: nothing
                tws.quote("AAPL", ask=101.0, ask_size=100)  # 1 record
            records = await consumer.wait_for(4)
            after = time.time_ns()
            await consumer.stop()
        assert by_symbol(records) == [
            quote_record("AAPL", 100.25, bid=(100.0, 300), ask=(100.5, 200)),
            quote_record("AAPL", 100.25, bid=(100.0, 400), ask=(100.5, 200)),
            quote_record("AAPL", 100.5, bid=(100.0, 400), ask=(101.0, 100)),
            quote_record("MSFT", 300.5, bid=(300.25, 10), ask=(300.75, 20)),
        ]
        assert all(isinstance(r["ts"], int) and before <= r["ts"] <= after for r in records)

    run(scenario())


def test_trades_iterate_every_tick_of_a_socket_read(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, stream="trades"))
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            with tws.batched():  # one socket read, one library event, five trades
                tws.quote("AAPL", bid=100.0, bid_size=300, ask=100.5, ask_size=200)
                tws.trade("AAPL", 100.5, 100, volume=1000)
                tws.trade("AAPL", 100.25, 200, volume=1200)
                tws.tick_size("AAPL", 5, 300)  # a new print at the last price (size only)
                tws.trade("MSFT", 300.0, 5)
                tws.trade("AAPL", 100.25, 200)  # the same price and size again is a new trade
            records = await consumer.wait_for(5)
            await consumer.stop()
        book = {"bid": 100.0, "bid_size": 300, "ask": 100.5, "ask_size": 200}
        assert by_symbol(records) == [
            {"symbol": "AAPL", "price": 100.5, "size": 100, **book},
            {"symbol": "AAPL", "price": 100.25, "size": 200, **book},
            {"symbol": "AAPL", "price": 100.25, "size": 300, **book},
            {"symbol": "AAPL", "price": 100.25, "size": 200, **book},
            {"symbol": "MSFT", "price": 300.0, "size": 5},
        ]
        assert consumer.batches == 1 and len({r["ts"] for r in records}) == 1

    run(scenario())


def test_delayed_market_data_uses_delayed_tick_types(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, symbols=("AAPL",), stream="trades", market_data_type="delayed"))
            await tws.wait_subscribed("mktdata", ["AAPL"])
            assert tws.current.market_data_type == 3  # the fake now sends tick types 66..71
            tws.trade("AAPL", 99.75, 10)
            records = await consumer.wait_for(1)
            await consumer.stop()
        assert without_ts(records) == [{"symbol": "AAPL", "price": 99.75, "size": 10}]
        assert [r.fields[2] for r in tws.requests_named("reqMarketDataType")] == ["3"]

    run(scenario())


def test_realtime_bars_carry_the_server_time(run):
    start = 1_704_207_600  # 2024-01-02 15:00:00 UTC
    bars = five_second_bars(start, minutes=1)[:3]

    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, stream="bars"))
            await tws.wait_subscribed("bars", ["AAPL", "MSFT"])
            play_bars(tws, "AAPL", bars)
            tws.realtime_bar("MSFT", start, 300.0, 300.5, 299.75, 300.25, 0, 0, 0)  # no trades: no VWAP
            records = await consumer.wait_for(4)
            await consumer.stop()
        assert records == [bar_5s("AAPL", *bar) for bar in bars] + [
            bar_5s("MSFT", start, 300.0, 300.5, 299.75, 300.25, 0.0, 300.25, 0)
        ]
        request = tws.requests_named("reqRealTimeBars")[0].fields
        assert request[-4:] == ("5", "TRADES", "0", "")  # barSize, whatToShow, useRTH, options

    run(scenario())


def test_tick_by_tick_trades_keep_their_exchange(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, stream="tick_by_tick"))
            await tws.wait_subscribed("tbt", ["AAPL", "MSFT"])
            with tws.batched():
                tws.tbt_last("AAPL", 1_704_207_600, 185.5, 100, exchange="NASDAQ")
                tws.tbt_last("MSFT", 1_704_207_600, 370.25, 7, exchange="ARCA")
                tws.tbt_last("AAPL", 1_704_207_601, 185.75, 30)
            records = await consumer.wait_for(3)
            await consumer.stop()
        assert by_symbol(records) == [
            {"symbol": "AAPL", "price": 185.5, "size": 100, "exchange": "NASDAQ"},
            {"symbol": "AAPL", "price": 185.75, "size": 30},
            {"symbol": "MSFT", "price": 370.25, "size": 7, "exchange": "ARCA"},
        ]
        assert {r.fields[14] for r in tws.requests_named("reqTickByTickData")} == {"AllLast"}

    run(scenario())


def test_tick_by_tick_bid_ask_gives_quotes(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(
                source(tws, symbols=("AAPL",), stream="tick_by_tick", tick_by_tick_type="BidAsk")
            )
            await tws.wait_subscribed("tbt", ["AAPL"])
            tws.tbt_bid_ask("AAPL", 1_704_207_600, 185.25, 185.5, 300, 100)
            tws.tbt_bid_ask("AAPL", 1_704_207_600, 185.25, 185.75, 300, 0)  # empty ask: no quote
            tws.tbt_bid_ask("AAPL", 1_704_207_601, 185.0, 185.5, 100, 200)
            records = await consumer.wait_for(2)
            await consumer.stop()
        assert without_ts(records) == [
            quote_record("AAPL", 185.375, bid=(185.25, 300), ask=(185.5, 100)),
            quote_record("AAPL", 185.25, bid=(185.0, 100), ask=(185.5, 200)),
        ]

    run(scenario())


def test_a_burst_of_trades_makes_one_known_minute_bar(run):
    trades = trade_burst(20)

    def script(tws, subscription):  # streams as soon as the client subscribes
        play_trades(tws, subscription.symbol, trades)

    async def scenario():
        async with FakeTws(on_subscribe=script) as tws:
            consumer = Consumer(source(tws, symbols=("AAPL",), stream="trades"))
            records = await consumer.wait_for(len(trades))
            await consumer.stop()
        return records

    records = run(scenario())
    assert [(r["price"], r["size"]) for r in records] == trades
    assert len({r["ts"] for r in records}) == 1  # one write, one arrival time, one minute
    bar = expected_bar("AAPL", trades, records[0]["ts"])
    assert bar == {
        "symbol": "AAPL",
        "ts": records[0]["ts"] // 60_000_000_000 * 60_000_000_000,
        "interval": "1m",
        **ohlc([(r["price"], r["size"]) for r in records]),
    }
    assert bar["count"] == 20 and bar["high"] > bar["low"]


def test_forex_pairs_become_cash_contracts_with_midpoint_bars(run):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(
                source(tws, symbols=({"symbol": "EURUSD", "sec_type": "CASH"},), stream="bars")
            )
            await tws.wait_subscribed("bars", ["EUR"])
            tws.realtime_bar("EUR", 1_704_207_600, 1.095, 1.1, 1.09, 1.0975, -1, -1, -1)
            records = await consumer.wait_for(1)
            await consumer.stop()
        return tws, records

    tws, records = run(scenario())
    request = tws.requests_named("reqRealTimeBars")[0].fields
    assert request[4:6] == ("EUR", "CASH") and request[10] == "IDEALPRO" and request[12] == "USD"
    assert request[-4:-2] == ("5", "MIDPOINT")
    assert records == [bar_5s("EURUSD", 1_704_207_600, 1.095, 1.1, 1.09, 1.0975, 0.0, 1.0975, 0)]


# -- errors ---------------------------------------------------------------------------------------


def test_unknown_symbol_is_named_and_the_others_keep_streaming(run, caplog, client_errors):
    client_errors.expect(r"Error 200, reqId \d+: No security definition")

    async def scenario():
        async with FakeTws() as tws:
            src = source(tws, symbols=("AAPL", "ZZZZ", "MSFT"), stream="trades")
            consumer = Consumer(src)
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            tws.trade("AAPL", 100.0, 1)
            tws.trade("MSFT", 200.0, 2)
            records = await consumer.wait_for(2)
            await consumer.stop()
        assert [r["symbol"] for r in records] == ["AAPL", "MSFT"]
        assert src.unknown_symbols == ["ZZZZ"] and src.errors == 1
        assert {r.fields[4] for r in tws.requests_named("reqMktData")} == {"AAPL", "MSFT"}

    with caplog.at_level(logging.ERROR, logger="runtime_lib"):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("runtime_lib")]
    assert messages == [
        "ticks: unknown symbol 'ZZZZ' (STK on SMART in USD): IB error 200: No security definition has been "
        "found for the request; skipping it, the other symbols keep streaming"
    ]


def test_no_known_symbol_is_a_job_error(run, client_errors):
    client_errors.expect(r"Error 200")

    async def scenario():
        async with FakeTws() as tws:
            with pytest.raises(JobError) as caught:
                await anext(source(tws, symbols=("ZZZZ", "QQQQQ")).batches())
            await tws.wait_disconnected()
        return str(caught.value)

    message = run(scenario())
    assert message.startswith("none of the symbols is known to TWS/IB Gateway at 127.0.0.1:")
    assert "ZZZZ, QQQQQ" in message


def test_gateway_not_listening(run, client_errors):
    client_errors.expect("API connection failed", "Make sure API port")
    port = free_port()
    src = IbkrSource("ticks", port=port, symbols=("AAPL",), registry=CollectorRegistry())
    with pytest.raises(JobError) as caught:
        run(anext(src.batches()))
    assert str(caught.value) == f"no TWS/IB Gateway at 127.0.0.1:{port} — start IB Gateway or set host/port"


def test_connect_timeout_names_host_port_and_timeout(run, client_errors):
    client_errors.expect("API connection failed: TimeoutError")

    async def scenario():
        async with FakeTws(handshake=False) as tws:
            with pytest.raises(JobError) as caught:
                await anext(source(tws, connect_timeout=0.2).batches())
            return tws.port, str(caught.value)

    port, message = run(scenario())
    assert message.startswith(
        f"TWS/IB Gateway at 127.0.0.1:{port} did not complete the API handshake within 0.2 s"
    )


# -- resilience -----------------------------------------------------------------------------------


def test_reconnect_resubscribes_and_loses_nothing_scripted(run, client_errors):
    client_errors.expect("Peer closed connection")
    registry = CollectorRegistry()

    async def scenario():
        async with FakeTws() as tws:
            src = source(tws, stream="trades", registry=registry)
            consumer = Consumer(src)
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            tws.trade("AAPL", 100.0, 1)
            tws.trade("MSFT", 200.0, 2)
            await consumer.wait_for(2)
            await tws.drop()
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"], conn=2)
            tws.trade("AAPL", 100.25, 3)
            tws.trade("MSFT", 200.25, 4)
            records = await consumer.wait_for(4)
            await consumer.stop()
            await tws.wait_disconnected()
            return src, tws, records

    src, tws, records = run(scenario())
    assert by_symbol(records[:2]) + by_symbol(records[2:]) == [
        {"symbol": "AAPL", "price": 100.0, "size": 1},
        {"symbol": "MSFT", "price": 200.0, "size": 2},
        {"symbol": "AAPL", "price": 100.25, "size": 3},
        {"symbol": "MSFT", "price": 200.25, "size": 4},
    ]
    assert src.reconnects == 1
    assert registry.get_sample_value("mdp_source_reconnects_total", {"node": "ticks"}) == 1.0
    for conn in (1, 2):
        assert sorted(r.fields[4] for r in tws.requests_named("reqContractDetails", conn)) == ["AAPL", "MSFT"]
        assert sorted(r.fields[4] for r in tws.requests_named("reqMktData", conn)) == ["AAPL", "MSFT"]
    assert [c.closed_by for c in tws.connections] == ["server", "client"]


def test_reconnect_gives_up_after_max_attempts(run, caplog, client_errors):
    client_errors.expect("Peer closed connection", "API connection failed", "Make sure API port")

    async def scenario():
        async with FakeTws() as tws:
            src = source(tws, reconnect={"initial_delay": 0.01, "max_delay": 0.03, "max_attempts": 3})
            consumer = Consumer(src)
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            await tws.stop_listening()
            await tws.drop()
            with pytest.raises(JobError) as caught:
                await consumer.task
            return src, tws.port, str(caught.value)

    with caplog.at_level(logging.WARNING, logger="runtime_lib"):
        src, port, message = run(scenario())
    assert message == (
        f"lost the connection to TWS/IB Gateway at 127.0.0.1:{port} and could not reconnect in 3 attempts "
        f"(last error: no TWS/IB Gateway at 127.0.0.1:{port} — start IB Gateway or set host/port)"
    )
    attempts = [
        r.getMessage()
        for r in caplog.records
        if "reconnect attempt" in r.getMessage() and " in " in r.getMessage()
    ]
    assert [m.split(" in ")[-1] for m in attempts] == ["0.01 s", "0.02 s", "0.03 s"]  # doubling, capped
    assert src.reconnects == 0


def test_close_while_reconnecting_ends_the_stream(run, client_errors):
    client_errors.expect("Peer closed connection", "API connection failed", "Make sure API port")

    async def scenario():
        async with FakeTws() as tws:
            src = source(tws, reconnect={"initial_delay": 0.05, "max_delay": 1.0, "max_attempts": 10})
            consumer = Consumer(src)
            await tws.wait_subscribed("mktdata", ["AAPL", "MSFT"])
            await tws.stop_listening()
            await tws.drop()
            await asyncio.sleep(0.1)
            await consumer.stop()  # no exception: the stream just ends
        return src

    assert run(scenario()).reconnects == 0


# -- shutdown and pacing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "kind", "cancel"),
    [
        ("quotes", "mktdata", "cancelMktData"),
        ("bars", "bars", "cancelRealTimeBars"),
        ("tick_by_tick", "tbt", "cancelTickByTickData"),
    ],
)
def test_close_cancels_every_subscription_and_disconnects(run, stream, kind, cancel):
    async def scenario():
        async with FakeTws() as tws:
            consumer = Consumer(source(tws, symbols=("AAPL", "MSFT", "IBM"), stream=stream))
            await tws.wait_subscribed(kind, ["AAPL", "MSFT", "IBM"])
            subscribed = set(tws.current.subs)
            await consumer.stop()
            await tws.wait_disconnected()
            return tws, subscribed

    tws, subscribed = run(scenario())
    cancelled = {int(r.fields[1] if r.msg_id == 98 else r.fields[2]) for r in tws.requests_named(cancel)}
    assert cancelled == subscribed and len(subscribed) == 3
    assert tws.current.subs == {} and tws.current.closed_by == "client"
    assert tws.max_requests_per_window() <= 50


def test_pacer_keeps_any_one_second_window_at_fifty_requests():
    now = [0]  # whole milliseconds, so window arithmetic is exact
    sent = []

    async def sleep(milliseconds):
        now[0] += milliseconds

    async def send(count):
        pacer = RequestPacer(limit=50, window=1000, clock=lambda: now[0], sleep=sleep)
        for _ in range(count):
            await pacer.acquire()
            sent.append(now[0])
            now[0] += 1

    asyncio.run(send(130))
    assert max(sum(1 for t in sent if start <= t < start + 1000) for start in sent) == 50
    assert sent[49] == 49 and sent[50] == 1000 and sent[100] == 2000  # paced batches of 50


# -- the client library -------------------------------------------------------------------------


def test_the_client_library_is_choosable(monkeypatch):
    wanted = os.environ.get("MDP_IB_CLIENT")
    if wanted:
        assert load_client_library().__name__ == wanted
    monkeypatch.setenv("MDP_IB_CLIENT", "ibapi")
    with pytest.raises(JobError, match="MDP_IB_CLIENT='ibapi' is not a known IB client library"):
        load_client_library()


def test_a_missing_client_library_says_how_to_install_it(monkeypatch):
    monkeypatch.delenv("MDP_IB_CLIENT", raising=False)
    for name in ("ib_insync", "ib_async"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    with pytest.raises(
        JobError,
        match=r"needs the IB client library ib_insync \(or ib_async\).*pip install ib_insync .*'\.\[ibkr\]'",
    ):
        load_client_library()


def test_the_client_library_is_imported_only_when_the_source_starts():
    code = (
        "import sys, runtime_lib.sources.ibkr as m; m.IbkrSource('n', symbols=('AAPL',)); "
        "print(sorted(n for n in ('ib_insync', 'ib_async', 'eventkit') if n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_bad_params_are_job_errors():
    with pytest.raises(
        JobError, match="ibkr stream 'level2' is not one of quotes, trades, bars, tick_by_tick"
    ):
        IbkrSource("ticks", symbols=("AAPL",), stream="level2")
    with pytest.raises(JobError, match="sec_type 'OPT' is not one of STK, FUT, CASH, IND, CRYPTO"):
        IbkrSource("ticks", symbols=({"symbol": "AAPL", "sec_type": "OPT"},))


def test_ib_async_empty_markers_leave_the_book():
    tick = namedtuple("T", "time tickType price size")
    moment = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
    out, book = [], QuoteBook()
    book.apply("X", [tick(moment, 1, 10.0, 5), tick(moment, 2, 11.0, 5)], "quotes", out)
    book.apply(
        "X", [tick(moment, 1, -1.0, 0.0), tick(moment, 1, float("nan"), 3)], "quotes", out
    )  # ib_async, nan
    book.apply("X", [tick(moment, 1, 10.5, 2), tick(moment, 3, 0.0, 0.0)], "quotes", out)  # ask size 0: empty
    assert [(r["price"], r.get("bid"), r.get("ask")) for r in out] == [
        (10.5, 10.0, 11.0),
        (10.75, 10.5, 11.0),
    ]
