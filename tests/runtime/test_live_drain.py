"""Stopping a live source: what it still holds when it is closed reaches the sinks."""

from __future__ import annotations

import asyncio

from runtime_lib.runner import LiveContext, Run, RunOptions
from runtime_lib.sinks.base import Sink
from runtime_lib.sources.base import Source


class HoldingSource(Source):
    """Like a broker feed: records wait in a queue, and closing flushes what is still pending."""

    live = True

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    async def batches(self):
        self.queue.put_nowait([{"n": i} for i in range(10)])
        while (batch := await self.queue.get()) is not None:
            yield batch

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait([{"n": 100 + i} for i in range(5)])
            self.queue.put_nowait(None)


class ListSink(Sink):
    """Keeps what it is given."""

    rows: list[dict] = []

    def write(self, batch: list[dict]) -> int:
        ListSink.rows.extend(batch)
        return len(batch)


def test_records_a_live_source_flushes_on_close_are_written():
    ListSink.rows = []
    ctx = LiveContext()
    ctx.source("feed", "provider.test", HoldingSource)
    ctx.connect("feed", ctx.sink("out", "sink.test", ListSink))
    asyncio.run(Run(ctx, RunOptions(duration=0.3)).execute())
    assert [row["n"] for row in ListSink.rows] == list(range(10)) + list(range(100, 105))
    assert ctx.node_stats["feed"].events_out == 15
