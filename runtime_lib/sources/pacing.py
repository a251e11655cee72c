"""Turn ticks into batches, as fast as possible or paced by event time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator

from ..timeutil import NS_PER_SECOND


async def rebatched(lists: Iterator[list[dict]], batch_size: int) -> AsyncIterator[list[dict]]:
    """Yield the records of ``lists`` in lists of ``batch_size`` (the last one may be shorter),
    letting other tasks run in between."""
    rest: list[dict] = []
    for records in lists:
        records = rest + records if rest else records
        whole = len(records) - len(records) % batch_size
        for start in range(0, whole, batch_size):
            yield records[start : start + batch_size]
            await asyncio.sleep(0)
        rest = records[whole:]
    if rest:
        yield rest


async def unpaced_batches(batches: AsyncIterator[list[dict]]) -> AsyncIterator[list[dict]]:
    """Yield the non-empty ``batches`` as they come, letting other tasks run in between."""
    async for batch in batches:
        if batch:
            yield batch
            await asyncio.sleep(0)


async def paced_batches(
    batches: AsyncIterator[list[dict]], speed: float, batch_size: int
) -> AsyncIterator[list[dict]]:
    """Yield ticks when their event time is due: ``ts`` is released ``(ts - ts_first) / speed``
    seconds after the first tick. Ticks already due travel together, up to ``batch_size``."""
    loop = asyncio.get_running_loop()
    scale = 1.0 / (NS_PER_SECOND * speed)
    start = first_ts = None
    async for ticks in batches:
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


async def tick_batches(
    batches: AsyncGenerator[list[dict], None], speed: float, batch_size: int
) -> AsyncIterator[list[dict]]:
    """``batches`` unpaced when ``speed`` is 0, else paced at ``speed`` times real time."""
    stream = paced_batches(batches, speed, batch_size) if speed > 0 else unpaced_batches(batches)
    try:
        async for batch in stream:
            yield batch
    finally:
        await stream.aclose()
        await batches.aclose()
