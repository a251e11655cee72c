"""Seeded synthetic ticks: a reproducible random walk per symbol, for demos, tests and benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterator

from ..timeutil import DEFAULT_TS_RANGE_NS, NS_PER_SECOND
from .base import DEFAULT_BATCH_SIZE, Source, check_batch_size
from .pacing import chunks, tick_batches

DEFAULT_START_TS = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z, a US market open
DEFAULT_STEP_NS = 1_000_000  # 1 ms of event time per tick when unpaced
LOT = 100
ODD_LOT_SHARE = 0.1
VOLATILITY = 0.0002  # standard deviation of one step, as a fraction of the base price
MIN_RATE = 0.001  # ticks per second: one tick every 1000 s
MAX_RATE = 1e9  # one tick per nanosecond of event time
TS_END = DEFAULT_TS_RANGE_NS[1]


def check_rate(rate: float) -> float:
    """Return ``rate`` if it is 0 (unpaced) or a finite number in ``MIN_RATE..MAX_RATE``."""
    if rate != 0 and not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise ValueError(f"rate must be 0 (unpaced) or between {MIN_RATE:g} and {MAX_RATE:.0f}, got {rate}")
    return rate


def event_step_ns(rate: float) -> int:
    """Event time between ticks: ``1 / rate`` seconds, or 1 ms when unpaced (``rate`` 0).

    >>> event_step_ns(0), event_step_ns(1000.0)
    (1000000, 1000000)
    """
    return max(1, round(NS_PER_SECOND / rate)) if rate > 0 else DEFAULT_STEP_NS


def ticks_before_end(start_ts: int, step: int) -> int:
    """How many ticks from ``start_ts``, ``step`` ns apart, have their ``ts`` before 2100-01-01."""
    return max(0, (TS_END - 1 - start_ts) // step + 1)


def synthetic_ticks(
    symbols: tuple[str, ...],
    seed: int = 0,
    count: int | None = None,
    start_ts: int = DEFAULT_START_TS,
    step_ns: int = DEFAULT_STEP_NS,
) -> Iterator[dict]:
    """Yield ``count`` ticks; tick ``i`` has ``ts = start_ts + i * step_ns``.

    ``count`` None means until event time reaches 2100-01-01, beyond any plausible run (at the
    default 1 ms per tick, 2.4 trillion ticks): ``ts`` never leaves the range sources accept.

    Each tick belongs to a symbol drawn at random; its price walks from a per-symbol base in
    cent steps, sizes are 1 to 10 round lots with some odd lots below 100, and a bid/ask of one
    to three cents surrounds the price. The same arguments always give the same ticks.

    >>> [t["ts"] for t in synthetic_ticks(("AAPL",), count=3, start_ts=0, step_ns=5)]
    [0, 5, 10]
    >>> first = list(synthetic_ticks(("A", "B"), seed=7, count=50))
    >>> first == list(synthetic_ticks(("A", "B"), seed=7, count=50))
    True
    """
    if not symbols:
        raise ValueError("synthetic_ticks needs at least one symbol")
    if step_ns <= 0:
        raise ValueError(f"step_ns must be > 0, got {step_ns}")
    rng = random.Random(seed)
    symbols = tuple(symbols)
    base = {symbol: round(rng.uniform(20.0, 500.0), 2) for symbol in symbols}
    walk = dict(base)
    indices = range(ticks_before_end(start_ts, step_ns) if count is None else count)
    for i in indices:
        symbol = rng.choice(symbols)
        walk[symbol] = max(0.05, walk[symbol] + rng.gauss(0.0, base[symbol] * VOLATILITY))
        price = round(walk[symbol], 2)
        if rng.random() < ODD_LOT_SHARE:
            size = rng.randint(1, LOT - 1)
        else:
            size = LOT * rng.randint(1, 10)
        half_spread = 0.01 * rng.randint(1, 3)
        yield {
            "symbol": symbol,
            "ts": start_ts + i * step_ns,
            "price": price,
            "size": size,
            "bid": max(0.01, round(price - half_spread, 2)),
            "ask": round(price + half_spread, 2),
            "bid_size": LOT * rng.randint(1, 20),
            "ask_size": LOT * rng.randint(1, 20),
        }


class SyntheticSource(Source):
    """Emit :func:`synthetic_ticks`; ``rate`` > 0 paces them at ``rate`` ticks per second.

    ``rate`` is 0 or lies in 0.001..1e9; ``batch_size`` in 1..100,000 (a batch is built whole
    before it moves, so an endless source with a huge batch would never yield).

    With ``rate`` > 0 event time advances by ``1 / rate`` seconds per tick, so event time and
    wall time move together; with ``rate`` 0 ticks are 1 ms apart and emitted unpaced.
    """

    node_type = "provider.synthetic"

    def __init__(
        self,
        node_id: str,
        *,
        symbols: tuple[str, ...],
        seed: int = 0,
        count: int | None = None,
        rate: float = 0.0,
        start_ts: int = DEFAULT_START_TS,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(node_id)
        if not symbols:
            raise ValueError("SyntheticSource needs at least one symbol")
        self.symbols = tuple(symbols)
        self.seed = seed
        self.count = count
        self.rate = check_rate(rate)
        self.start_ts = start_ts
        self.batch_size = check_batch_size(batch_size)
        self.step_ns = event_step_ns(rate)

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the ticks in lists of up to ``batch_size``, paced when ``rate`` > 0."""
        ticks = synthetic_ticks(self.symbols, self.seed, self.count, self.start_ts, self.step_ns)
        batches = chunks(ticks, self.batch_size)
        async for batch in tick_batches(batches, 1.0 if self.rate > 0 else 0.0, self.batch_size):
            yield batch
