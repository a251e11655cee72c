"""A sink behind a bounded queue: batches are written in a worker thread, in order."""

from __future__ import annotations

import asyncio
from collections import deque

from .sinks.base import Sink
from .stats import NodeStats

DEFAULT_MAX_PENDING = 64


class SinkWorker:
    """Queues batches for one sink and writes them from a worker thread, one call at a time.

    ``submit`` never drops: the queue may grow past ``max_pending`` for the batch in hand, and
    the sources then wait in :meth:`wait_for_room` (backpressure) until the writer catches up.
    """

    def __init__(self, sink: Sink, stats: NodeStats, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.sink = sink
        self.stats = stats
        self.max_pending = max_pending
        self.rows_written = 0
        self._pending: deque[list[dict]] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False

    def submit(self, batch: list[dict]) -> None:
        """Queue a batch for writing (called synchronously from pipeline code)."""
        self.stats.events_in += len(batch)
        self._pending.append(batch)
        self._wake.set()
        if len(self._pending) >= self.max_pending:
            self._room.clear()

    async def wait_for_room(self) -> None:
        """Return once the queue is below its bound."""
        await self._room.wait()

    async def run(self) -> None:
        """Write queued batches until :meth:`close` is called and the queue is empty."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batches = list(self._pending)
                self._pending.clear()
                self._room.set()
                rows = [record for batch in batches for record in batch]
                written = await asyncio.to_thread(self.sink.write, rows)
                self.rows_written += written
                self.stats.events_out += len(rows)
            if self._closing:
                return

    async def close(self) -> None:
        """Ask the writer to finish once everything queued is written."""
        self._closing = True
        self._wake.set()
