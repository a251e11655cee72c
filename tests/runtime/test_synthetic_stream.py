"""The synthetic stream is the one its module documents: the same seed gives the same ticks on
every run, whatever the batch size, and a stream with a count is the start of the endless one."""

from __future__ import annotations

import asyncio
import hashlib
import random
from statistics import NormalDist

import pytest

from runtime_lib.sources.synthetic import BLOCK, DEFAULT_START_TS, SyntheticSource, synthetic_ticks

SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ", "IWM")
PINNED = "0ff998afee9cf637ecaed039553a0da2717b5dca2e301883519f7bd536af0915"  # of 3000 ticks, seed 7


def documented_ticks(
    symbols: tuple[str, ...], seed: int, count: int, start_ts: int, step_ns: int
) -> list[dict]:
    """The stream as the module docstring of ``runtime_lib.sources.synthetic`` describes it."""
    rng = random.Random(seed)
    base = [round(rng.uniform(20.0, 500.0), 2) for _ in symbols]
    walk = list(base)
    normal = [NormalDist().inv_cdf((k + 0.5) / 4096) for k in range(4096)]
    ticks = []
    while len(ticks) < count:
        picks = rng.randbytes(4 * BLOCK)
        steps, sizes = rng.randbytes(2 * BLOCK), rng.randbytes(2 * BLOCK)
        halves, bids, asks = rng.randbytes(BLOCK), rng.randbytes(BLOCK), rng.randbytes(BLOCK)
        for i in range(min(BLOCK, count - len(ticks))):
            k = int.from_bytes(picks[4 * i : 4 * i + 4], "little") * len(symbols) >> 32
            z = normal[int.from_bytes(steps[2 * i : 2 * i + 2], "little") >> 4]
            walk[k] = max(0.05, walk[k] + z * base[k] * 0.0002)
            cents = round(walk[k] * 100)
            v = int.from_bytes(sizes[2 * i : 2 * i + 2], "little")
            half = 1 + halves[i] % 3
            ticks.append(
                {
                    "symbol": symbols[k],
                    "ts": start_ts + len(ticks) * step_ns,
                    "price": cents / 100,
                    "size": 1 + v % 99 if v < 6554 else 100 * (1 + v % 10),
                    "bid": (cents - half) / 100,
                    "ask": (cents + half) / 100,
                    "bid_size": 100 * (1 + bids[i] % 20),
                    "ask_size": 100 * (1 + asks[i] % 20),
                }
            )
    return ticks


@pytest.mark.parametrize(
    ("symbols", "seed", "count"), [(SYMBOLS, 0, 3000), (("X",), -(2**63), 5), (SYMBOLS[:2], 99, 2048)]
)
def test_the_stream_is_the_documented_one(symbols, seed, count):
    assert list(synthetic_ticks(symbols, seed, count, 1_000, 7)) == documented_ticks(
        symbols, seed, count, 1_000, 7
    )


def test_the_stream_is_pinned():
    digest = hashlib.sha256(repr(list(synthetic_ticks(SYMBOLS, seed=7, count=3000))).encode()).hexdigest()
    assert digest == PINNED, "the synthetic stream changed: document the new one, then update PINNED"


def test_same_seed_same_ticks_whatever_the_batch_size():
    def collect(batch_size: int) -> list[dict]:
        source = SyntheticSource("ticks", symbols=SYMBOLS, seed=11, count=5000, batch_size=batch_size)

        async def run() -> list[dict]:
            return [tick async for batch in source.batches() for tick in batch]

        return asyncio.run(run())

    ticks = collect(1024)
    assert collect(1) == ticks == collect(333) == collect(100_000)
    assert ticks == list(synthetic_ticks(SYMBOLS, 11, 5000, DEFAULT_START_TS))
    assert ticks != list(synthetic_ticks(SYMBOLS, 12, 5000, DEFAULT_START_TS))


def test_a_count_gives_the_start_of_the_endless_stream():
    endless = synthetic_ticks(SYMBOLS, seed=5)
    assert list(synthetic_ticks(SYMBOLS, seed=5, count=1500)) == [next(endless) for _ in range(1500)]
