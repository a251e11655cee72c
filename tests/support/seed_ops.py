"""Custom operators written the older system's way, importable as ``tests.support.seed_ops:NAME``.

Functions of a record return a new record or None (drop); async generators iterate ``src``;
:class:`Counter` is a provider for the Python API's registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from runtime_lib.sources.base import Source

SECOND = 1_000_000_000
START_TS = 1_710_495_000 * SECOND  # 2024-03-15T09:30:00Z


class Counter(Source):
    """``count`` ticks of one symbol, a second apart, in batches of ``batch_size``; prices follow
    a fixed saw-tooth, so every run gives the same ticks."""

    def __init__(self, node_id: str, count: int, symbol: str = "AAA", batch_size: int = 10) -> None:
        super().__init__(node_id)
        self.count = count
        self.symbol = symbol
        self.batch_size = batch_size

    def ticks(self) -> list[dict]:
        """Every tick this source yields, in order."""
        return [
            {"symbol": self.symbol, "ts": START_TS + i * SECOND, "price": 100.0 + i % 7 - i % 3, "size": 1}
            for i in range(self.count)
        ]

    async def batches(self):
        """Yield the ticks in batches."""
        ticks = self.ticks()
        for start in range(0, len(ticks), self.batch_size):
            yield ticks[start : start + self.batch_size]


def above(record: dict, threshold: float, field: str = "price") -> dict | None:
    """Keep the record when ``field`` is above ``threshold``."""
    return record if record[field] > threshold else None


def below(record: dict, threshold: float, field: str = "price") -> dict | None:
    """Keep the record when ``field`` is below ``threshold``."""
    return record if record[field] < threshold else None


def notional(record: dict, scale: float = 1.0) -> dict:
    """Add ``notional = price * size * scale``; a record without a size raises (and is set aside)."""
    return {**record, "notional": record["price"] * record["size"] * scale}


async def rising(src: AsyncIterator[dict], min_step: float = 0.0) -> AsyncIterator[dict]:
    """Yield each tick whose price rose by more than ``min_step`` since its symbol's previous tick."""
    previous: dict[str, float] = {}
    async for tick in src:
        last = previous.get(tick["symbol"])
        previous[tick["symbol"]] = tick["price"]
        if last is not None and tick["price"] - last > min_step:
            yield tick


async def pairs(src: AsyncIterator[dict], label: str) -> AsyncIterator[dict]:
    """Yield one record per two inputs; at end of stream, the odd one out alone, then a count."""
    held, seen = None, 0
    async for item in src:
        seen += 1
        if held is None:
            held = item
        else:
            yield {"label": label, "first": held["ts"], "second": item["ts"]}
            held = None
    if held is not None:
        yield {"label": label, "first": held["ts"], "second": None}
    yield {"label": label, "count": seen}


async def napping(src: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """Awaits something other than its input: refused when the job runs."""
    async for item in src:
        await asyncio.sleep(0)
        yield item


async def breaks_on(src: AsyncIterator[dict], ts: int) -> AsyncIterator[dict]:
    """Raises on the record with this ``ts``: the job stops, naming the node."""
    async for item in src:
        if item["ts"] == ts:
            raise ValueError(f"cannot take ts {ts}")
        yield item
