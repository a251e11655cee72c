"""Seeded synthetic ticks: a reproducible random walk per symbol, for demos, tests and benchmarks.

The stream is made a block of :data:`BLOCK` ticks at a time, each block from fixed-size draws
of one ``random.Random(seed)``, so the same arguments give the same ticks whatever the batch
size, and a stream with a ``count`` is the start of the endless one:

- first, per symbol in order, a base price ``round(uniform(20, 500), 2)``; each symbol's walk
  starts there and moves by ``z * base * VOLATILITY`` per tick of that symbol, never below 0.05;
- then per block, in this order: ``randbytes(4 * BLOCK)`` read as little-endian 32-bit values
  ``v``, tick ``i`` going to ``symbols[v * len(symbols) >> 32]``; ``randbytes(2 * BLOCK)`` as
  16-bit values, ``z = NORMAL[v >> 4]``, the standard normal quantile at ``(k + 0.5) / 4096``;
  ``randbytes(2 * BLOCK)`` as 16-bit values, ``size = 1 + v % 99`` (an odd lot) when
  ``v < 6554`` (10 %), else ``100 * (1 + v % 10)``; then three ``randbytes(BLOCK)``, one byte
  per tick each: the half spread ``1 + b % 3`` cents, ``bid_size = 100 * (1 + b % 20)`` and
  ``ask_size`` likewise;
- ``price`` is the walk in whole cents (``cents = round(walk * 100)``, ``price = cents / 100``),
  ``bid = (cents - half) / 100`` and ``ask = (cents + half) / 100``.
"""

from __future__ import annotations

import itertools
import random
import sys
from array import array
from collections.abc import AsyncIterator, Iterator
from statistics import NormalDist

from .base import DEFAULT_BATCH_SIZE, Source, check_batch_size
from .pacing import rebatched, tick_batches
from .source_bounds import DEFAULT_START_TS, DEFAULT_STEP_NS, check_rate, event_step_ns, ticks_before_end

BLOCK = 1024
LOT = 100
ODD_LOTS = 6554  # of 65,536 size draws: 10 %
VOLATILITY = 0.0002  # standard deviation of one step, as a fraction of the base price
FLOOR = 0.05  # the lowest price a walk reaches
NORMAL = tuple(NormalDist().inv_cdf((k + 0.5) / 4096) for k in range(4096))
_SIZES = tuple(1 + v % (LOT - 1) if v < ODD_LOTS else LOT * (1 + v % 10) for v in range(1 << 16))
_HALF_SPREADS = tuple(1 + b % 3 for b in range(256))
_BOOK_SIZES = tuple(LOT * (1 + b % 20) for b in range(256))


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
    to three cents surrounds the price (see the module docstring). The same arguments always
    give the same ticks.

    >>> [t["ts"] for t in synthetic_ticks(("AAPL",), count=3, start_ts=0, step_ns=5)]
    [0, 5, 10]
    >>> first = list(synthetic_ticks(("A", "B"), seed=7, count=50))
    >>> first == list(synthetic_ticks(("A", "B"), seed=7, count=50))
    True
    """
    return itertools.chain.from_iterable(synthetic_blocks(symbols, seed, count, start_ts, step_ns))


def synthetic_blocks(
    symbols: tuple[str, ...],
    seed: int = 0,
    count: int | None = None,
    start_ts: int = DEFAULT_START_TS,
    step_ns: int = DEFAULT_STEP_NS,
) -> Iterator[list[dict]]:
    """The ticks of :func:`synthetic_ticks` in lists of :data:`BLOCK` (the last one shorter)."""
    if not symbols:
        raise ValueError("synthetic_ticks needs at least one symbol")
    if step_ns <= 0:
        raise ValueError(f"step_ns must be > 0, got {step_ns}")
    rng = random.Random(seed)
    names = tuple(symbols)
    base = [round(rng.uniform(20.0, 500.0), 2) for _ in names]
    walk = list(base)
    sigma = [price * VOLATILITY for price in base]
    n_symbols = len(names)
    left = ticks_before_end(start_ts, step_ns) if count is None else count
    ts = start_ts
    while left > 0:
        m = min(BLOCK, left)
        picks = [v * n_symbols >> 32 for v in _unsigned(rng.randbytes(4 * BLOCK), "I")[:m]]
        steps = [NORMAL[v >> 4] for v in _unsigned(rng.randbytes(2 * BLOCK), "H")[:m]]
        sizes = [_SIZES[v] for v in _unsigned(rng.randbytes(2 * BLOCK), "H")[:m]]
        halves = [_HALF_SPREADS[b] for b in rng.randbytes(BLOCK)[:m]]
        bid_sizes = [_BOOK_SIZES[b] for b in rng.randbytes(BLOCK)[:m]]
        ask_sizes = [_BOOK_SIZES[b] for b in rng.randbytes(BLOCK)[:m]]
        cents = []
        for k, z in zip(picks, steps):
            price = walk[k] + z * sigma[k]
            if price < FLOOR:
                price = FLOOR
            walk[k] = price
            cents.append(round(price * 100.0))
        yield [
            {
                "symbol": symbol, "ts": t, "price": c / 100, "size": size,
                "bid": (c - half) / 100, "ask": (c + half) / 100, "bid_size": bid, "ask_size": ask,
            }
            for symbol, t, c, size, half, bid, ask in zip(
                map(names.__getitem__, picks), range(ts, ts + m * step_ns, step_ns),
                cents, sizes, halves, bid_sizes, ask_sizes,
            )
        ]  # fmt: skip
        ts += m * step_ns
        left -= m


def _unsigned(data: bytes, code: str) -> array:
    """``data`` read as little-endian unsigned integers (``code`` "H": 16 bits, "I": 32 bits)."""
    values = array(code, data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


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
        self._emitted = 0  # ticks handed on so far

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the ticks in lists of up to ``batch_size``, paced when ``rate`` > 0."""
        blocks = synthetic_blocks(self.symbols, self.seed, self.count, self.start_ts, self.step_ns)
        batches = rebatched(blocks, self.batch_size)
        async for batch in tick_batches(batches, 1.0 if self.rate > 0 else 0.0, self.batch_size):
            self._emitted += len(batch)
            yield batch

    def progress(self) -> tuple[int, int] | None:
        """(ticks handed on, ``count``); None for an endless stream."""
        count = self.count
        return None if count is None else (self._emitted, count)
