"""Turn an iterator of ticks into batches, as fast as possible or paced by event time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from ..timeutil import NS_PER_SECOND


async def unpaced_batches(ticks: Iterator[dict], batch_size: int) -> AsyncIterator[list[dict]]:
    """Yield ``ticks`` in lists of up to ``batch_size``, letting other tasks run in between."""
    batch: list[dict] = []
    for tick in ticks:
        batch.append(tick)
        if len(batch) >= batch_size:
            yield batch
            batch = []
            await asyncio.sleep(0)
    if batch:
        yield batch


async def paced_batches(ticks: Iterator[dict], speed: float, batch_size: int) -> AsyncIterator[list[dict]]:
    """Yield ``ticks`` when their event time is due: ``ts`` is released ``(ts - ts_first) / speed``
    seconds after the first tick. Ticks already due travel together, up to ``batch_size``."""
    loop = asyncio.get_running_loop()
    scale = 1.0 / (NS_PER_SECOND * speed)
    start = first_ts = None
    batch: list[dict] = []
    for tick in ticks:
        if first_ts is None:
            start, first_ts = loop.time(), tick["ts"]
        due = start + (tick["ts"] - first_ts) * scale
        if due > loop.time():
            if batch:
                yield batch
                batch = []
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        batch.append(tick)
        if len(batch) >= batch_size:
            yield batch
            batch = []
            await asyncio.sleep(0)
    if batch:
        yield batch


async def tick_batches(ticks: Iterator[dict], speed: float, batch_size: int) -> AsyncIterator[list[dict]]:
    """Batches of ``ticks``: unpaced when ``speed`` is 0, else paced at ``speed`` times real time."""
    stream = paced_batches(ticks, speed, batch_size) if speed > 0 else unpaced_batches(ticks, batch_size)
    try:
        async for batch in stream:
            yield batch
    finally:
        await stream.aclose()
