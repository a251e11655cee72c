"""synthetic_ticks and SyntheticSource: determinism, shape of the ticks, batching, pacing."""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime_lib.sources.synthetic import DEFAULT_START_TS, SyntheticSource, synthetic_ticks

SYMBOLS = ("AAPL", "MSFT", "SPY")


def collect(source: SyntheticSource, limit: int | None = None) -> list[list[dict]]:
    """Run the source and return its batches (at most ``limit`` of them)."""

    async def run() -> list[list[dict]]:
        batches = []
        stream = source.batches()
        async for batch in stream:
            batches.append(batch)
            if limit is not None and len(batches) >= limit:
                await stream.aclose()
                break
        return batches

    return asyncio.run(run())


def test_same_seed_same_ticks_other_seed_other_ticks():
    first = list(synthetic_ticks(SYMBOLS, seed=3, count=500))
    assert first == list(synthetic_ticks(SYMBOLS, seed=3, count=500))
    assert first != list(synthetic_ticks(SYMBOLS, seed=4, count=500))


def test_count_and_event_time_steps():
    ticks = list(synthetic_ticks(SYMBOLS, seed=1, count=7, start_ts=1_000, step_ns=250))
    assert [t["ts"] for t in ticks] == [1_000 + 250 * i for i in range(7)]
    assert list(synthetic_ticks(SYMBOLS, count=0)) == []


def test_ticks_look_like_ticks():
    ticks = list(synthetic_ticks(SYMBOLS, seed=11, count=2_000))
    assert {t["symbol"] for t in ticks} == set(SYMBOLS)
    for t in ticks:
        assert set(t) == {"symbol", "ts", "price", "size", "bid", "ask", "bid_size", "ask_size"}
        assert t["price"] > 0 and round(t["price"], 2) == t["price"]
        assert t["bid"] < t["price"] < t["ask"]
        assert isinstance(t["size"], int) and 1 <= t["size"] <= 1_000
        assert t["size"] < 100 or t["size"] % 100 == 0
        assert t["bid_size"] % 100 == 0 and t["ask_size"] % 100 == 0
    odd_lots = sum(t["size"] < 100 for t in ticks)
    assert 0 < odd_lots < len(ticks) / 2
    aapl = [t["price"] for t in ticks if t["symbol"] == "AAPL"]
    assert len(set(aapl)) > 10  # the price walks
    assert max(abs(a - b) for a, b in zip(aapl, aapl[1:])) < 0.05 * aapl[0]  # in small steps


def test_source_matches_generator_and_batches():
    source = SyntheticSource("ticks", symbols=SYMBOLS, seed=5, count=2_500, batch_size=1_024)
    batches = collect(source)
    assert [len(b) for b in batches] == [1_024, 1_024, 452]
    expected = list(
        synthetic_ticks(SYMBOLS, seed=5, count=2_500, start_ts=DEFAULT_START_TS, step_ns=1_000_000)
    )
    assert [t for b in batches for t in b] == expected


def test_endless_when_count_is_none():
    batches = collect(SyntheticSource("ticks", symbols=("X",), batch_size=100), limit=30)
    assert [len(b) for b in batches] == [100] * 30
    assert batches[-1][-1]["ts"] == DEFAULT_START_TS + 2_999 * 1_000_000


def test_rate_sets_event_time_step_and_paces():
    source = SyntheticSource("ticks", symbols=SYMBOLS, count=11, rate=50.0, start_ts=0)
    started = time.monotonic()
    batches = collect(source)
    elapsed = time.monotonic() - started
    ticks = [t for b in batches for t in b]
    assert [t["ts"] for t in ticks] == [20_000_000 * i for i in range(11)]
    assert elapsed >= 0.15  # 10 steps of 20 ms
    assert len(batches) > 1


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SyntheticSource("ticks", symbols=())
    with pytest.raises(ValueError):
        SyntheticSource("ticks", symbols=("X",), rate=-1)
    with pytest.raises(ValueError):
        list(synthetic_ticks(("X",), count=1, step_ns=0))
