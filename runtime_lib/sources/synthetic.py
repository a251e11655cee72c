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

**Resuming.** Every block starts from the state of the random generator and the walks left by
the block before, so :class:`SyntheticStream` can start at any block from that state. The
position of a :class:`SyntheticSource` is the number of ticks handed on with the state before
the block of the last of them: a resumed source draws that block again, drops the ticks
already handed on, and goes on with the very ticks (``ts``, prices, sizes) of the uninterrupted
stream, whatever the batch sizes. Pacing (``rate``) starts again at the first tick it hands on.
"""

from __future__ import annotations

import itertools
import random
import sys
from array import array
from collections.abc import AsyncIterator, Iterator
from statistics import NormalDist

from ..errors import JobError
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
    return SyntheticStream(symbols, seed, count, start_ts, step_ns).blocks()


BlockStart = tuple[tuple, tuple[float, ...]]
"""What a block is drawn from: the random generator's state (``getstate()``) and every walk."""


class SyntheticStream:
    """The blocks of :func:`synthetic_ticks`, from the first or from any later block.

    With ``noting`` set, :meth:`blocks` keeps in :attr:`starts` what each block it draws starts
    from; the caller forgets those it no longer needs (:meth:`forget_before`).
    """

    def __init__(
        self,
        symbols: tuple[str, ...],
        seed: int = 0,
        count: int | None = None,
        start_ts: int = DEFAULT_START_TS,
        step_ns: int = DEFAULT_STEP_NS,
    ) -> None:
        if not symbols:
            raise ValueError("synthetic_ticks needs at least one symbol")
        if step_ns <= 0:
            raise ValueError(f"step_ns must be > 0, got {step_ns}")
        self.symbols = tuple(symbols)
        self.seed = seed
        self.total = ticks_before_end(start_ts, step_ns) if count is None else count
        self.start_ts = start_ts
        self.step_ns = step_ns
        self.noting = False
        self.starts: dict[int, BlockStart] = {}  # block number -> what it was drawn from

    def forget_before(self, block: int) -> None:
        """Forget what the blocks before ``block`` started from."""
        for old in [number for number in self.starts if number < block]:
            del self.starts[old]

    def blocks(self, first: int = 0, start: BlockStart | None = None) -> Iterator[list[dict]]:
        """The blocks from block number ``first`` on; ``start`` is what it starts from (as noted in
        :attr:`starts` by an earlier stream), needed unless ``first`` is 0."""
        rng = random.Random(self.seed)
        names = self.symbols
        base = [round(rng.uniform(20.0, 500.0), 2) for _ in names]
        walk = list(base)
        sigma = [price * VOLATILITY for price in base]
        if start is not None:
            version, internal, gauss = start[0]
            rng.setstate((version, tuple(internal), gauss))  # a tuple again, whatever carried it
            walk = list(start[1])
        n_symbols = len(names)
        step_ns = self.step_ns
        left = self.total - first * BLOCK
        ts = self.start_ts + first * BLOCK * step_ns
        number = first
        while left > 0:
            if self.noting:
                self.starts[number] = (rng.getstate(), tuple(walk))
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
            number += 1


def _after(blocks: Iterator[list[dict]], skip: int) -> Iterator[list[dict]]:
    """The ticks of ``blocks`` but the first ``skip``."""
    for block in blocks:
        if skip:
            if len(block) <= skip:
                skip -= len(block)
                continue
            block, skip = block[skip:], 0
        yield block


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
        self._stream = SyntheticStream(self.symbols, seed, count, start_ts, self.step_ns)
        self._stream.noting = True
        self._resume_from: tuple[int, BlockStart | None] = (0, None)  # (first block, what it starts from)

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the ticks in lists of up to ``batch_size``, paced when ``rate`` > 0."""
        first, start = self._resume_from
        blocks = _after(self._stream.blocks(first, start), self._emitted - first * BLOCK)
        batches = rebatched(blocks, self.batch_size)
        async for batch in tick_batches(batches, 1.0 if self.rate > 0 else 0.0, self.batch_size):
            self._emitted += len(batch)
            self._stream.forget_before((self._emitted - 1) // BLOCK)
            yield batch

    def progress(self) -> tuple[int, int] | None:
        """(ticks handed on, ``count``); None for an endless stream."""
        count = self.count
        return None if count is None else (self._emitted, count)

    def _stream_params(self) -> dict:
        """What the ticks are made from (``count`` aside: a shorter stream is the start of a longer one)."""
        return {
            "symbols": self.symbols,
            "seed": self.seed,
            "start_ts": self.start_ts,
            "step_ns": self.step_ns,
        }

    def position(self) -> dict:
        """``{"ticks": handed on, "block": number, "random": state, "walk": prices, "stream": params}``
        just after the last batch: the block is that of the last tick handed on, with the random
        generator's state and the walks before it was drawn (no block before the first tick)."""
        position = {"ticks": self._emitted, "stream": self._stream_params()}
        if self._emitted:
            block = (self._emitted - 1) // BLOCK
            state, walk = self._stream.starts[block]
            position.update(block=block, random=state, walk=walk)
        return position

    def resume_at(self, position: dict) -> None:
        """Before :meth:`batches`: go on with the tick after ``position``; a :class:`JobError` when it
        was taken on a stream of other symbols, seed, start or rate."""
        saved = position.get("stream") if isinstance(position, dict) else None
        if saved is None:
            raise JobError(
                f"provider {self.node_id!r}: not a position of a synthetic stream: {position!r:.200}"
            )
        params = self._stream_params()
        changed = [f"{name} {saved.get(name)!r} then, {value!r} now"
                   for name, value in params.items() if saved.get(name) != value]  # fmt: skip
        if changed:
            raise JobError(
                f"provider {self.node_id!r}: the input changed since the checkpoint: {'; '.join(changed)}"
            )
        self._emitted = position["ticks"]
        if self._emitted:
            start = (position["random"], position["walk"])
            self._resume_from = (position["block"], start)
            self._stream.starts[position["block"]] = start  # what position() gives until a batch moves on
