"""Sources that never end, on shards: one actor holds the source and feeds the shards by symbol.

A broker feed or a stream cannot be read once per shard (one connection, one subscription), so
:class:`SourceFeeder` runs the source alone and sends each batch's records to the shard that
owns their symbol (``stable_hash(symbol) % shards``). On a shard, the source's node becomes a
:class:`FedSource` that yields what the feeder sent, through a bounded :class:`Inbox`, and the
rest of the plan runs as it does in one process. The feeder keeps at most :data:`FEED_AHEAD`
batches in flight to each shard, and a full inbox makes the shard's ``feed`` call wait, so a
slow shard slows the source down instead of queueing without bound.

The feeder ends the shards' inputs when its source ends, when ``max_events`` records have been
read, when ``duration`` has passed, or when :meth:`SourceFeeder.stop` is called (the driver's
SIGTERM or SIGINT): the shards then flush their open windows and finish as one process would.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque

from .context import LocalContext
from .module_text import module_from_text
from .sources.base import Source
from .sources.shard_share import shard_of

FEED_AHEAD = 4
"""Batches in flight from the feeder to each shard, and batches an inbox holds."""
FEED_CALLS = FEED_AHEAD + 2
"""Calls of one source's feed a shard may be running at once: those in flight, and the end."""
WAIT_S = 0.2
"""How often a shard waiting on an empty inbox looks whether its run has been stopped."""
END = None
"""What the feeder sends a shard's inbox when the source has ended."""


class Inbox:
    """The batches sent to one shard for one source, in the order the feeder numbered them, at
    most :data:`FEED_AHEAD` waiting.

    The shard's actor takes calls on several threads, so batches can arrive out of order: each
    waits for its turn. A shard restarted by Ray (``restarted``) starts at the first batch that
    reaches it; those before it, in flight when the old process died, are lost with it.
    """

    def __init__(self, restarted: bool = False) -> None:
        self._ready = threading.Condition()
        self._waiting: deque = deque()
        self._next: int | None = None if restarted else 0

    def put(self, number: int, batch: list[dict] | None) -> None:
        """Add batch ``number`` (or :data:`END`) after those before it; wait while the inbox is full."""
        with self._ready:
            if self._next is None:
                self._next = number
            self._ready.wait_for(lambda: number <= self._next and len(self._waiting) < FEED_AHEAD)
            if number < self._next:  # sent before a restart began at a later one
                return
            self._waiting.append(batch)
            self._next += 1
            self._ready.notify_all()

    def get(self) -> list[dict] | None | bool:
        """The next batch, :data:`END`, or False when none came within :data:`WAIT_S`."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._waiting, timeout=WAIT_S):
                return False
            batch = self._waiting.popleft()
            self._ready.notify_all()
            return batch


class FedSource(Source):
    """On a shard: the batches the feeder sent of source ``node_id``, until it sends :data:`END`."""

    node_type = "provider.fed"

    def __init__(self, node_id: str, *, inbox: Inbox, live: bool) -> None:
        super().__init__(node_id)
        self.inbox = inbox
        self.live = live
        self._closed = False

    async def batches(self):
        """Yield each batch as it arrives; end at :data:`END` or when the run closes the source."""
        while not self._closed:
            batch = await asyncio.to_thread(self.inbox.get)
            if batch is END:
                return
            if batch:
                yield batch

    async def close(self) -> None:
        """Stop waiting for batches."""
        self._closed = True


class SourceFeeder:
    """Read the sources ``fed`` of the compiled module ``source_text`` and feed ``runners``, the
    shard actors, by symbol; see the module docstring."""

    def __init__(
        self,
        source_text: str,
        fed: list[str],
        runners: list,
        cwd: str,
        max_events: int | None = None,
        duration: float | None = None,
    ) -> None:
        os.chdir(cwd)
        self.ctx = LocalContext()  # declares the sources; no record reaches its sinks here
        module_from_text(source_text, "mdp_feeder").build(self.ctx)
        self.fed, self.runners = fed, runners
        self.max_events, self.duration = max_events, duration
        self.read = 0
        self._stopping: asyncio.Event | None = None
        self._owners: dict[str, int] = {}

    async def run(self) -> dict:
        """Feed the shards until the sources end or the feeder is stopped; return the sources'
        counters in the shape of a shard's (records in and out are counted by the shards)."""
        self._stopping = asyncio.Event()
        sources = []
        for node_id in self.fed:
            _type, cls, params = self.ctx.sources[node_id]
            source = cls(node_id, **params)
            source.stats = self.ctx.node_stats[node_id]
            sources.append(source)
        timer = None
        if self.duration is not None:
            timer = asyncio.get_running_loop().call_later(self.duration, self._stopping.set)
        try:
            await asyncio.gather(*(self._pump(source) for source in sources))
        finally:
            if timer is not None:
                timer.cancel()
        nodes = {
            s.node_id: [
                s.stats.node_type,
                0,
                0,
                s.stats.late,
                s.stats.dropped,
                s.stats.errors,
                dict(s.stats.set_aside),
            ]
            for s in sources
        }
        return {"nodes": nodes, "rows": {}}

    async def stop(self) -> None:
        """End the shards' inputs after the batch in hand (the driver was told to stop)."""
        if self._stopping is not None:
            self._stopping.set()

    async def _pump(self, source: Source) -> None:
        """Send the batches of ``source`` to their shards, then tell every shard it has ended."""
        in_flight = [deque() for _ in self.runners]
        numbers = [0] * len(self.runners)  # the next batch's number, per shard
        batches = source.batches().__aiter__()
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                step = asyncio.ensure_future(batches.__anext__())
                await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():  # stopped while the source waits for data
                    step.cancel()
                    break
                try:
                    batch = step.result()
                except StopAsyncIteration:
                    break
                await self._send(source.node_id, self._taken(batch), in_flight, numbers)
        finally:
            stopped.cancel()
            await source.close()
            for shard, runner in enumerate(self.runners):
                while in_flight[shard]:
                    await in_flight[shard].popleft()
                await runner.feed.remote(source.node_id, numbers[shard], END)

    def _taken(self, batch: list[dict]) -> list[dict]:
        """``batch``, cut at ``max_events`` records in all (the feeder then stops)."""
        if self.max_events is not None and self.read + len(batch) >= self.max_events:
            batch = batch[: self.max_events - self.read]
            self._stopping.set()
        self.read += len(batch)
        return batch

    async def _send(
        self, node_id: str, batch: list[dict], in_flight: list[deque], numbers: list[int]
    ) -> None:
        """Send each shard its records of ``batch``, numbered in order, waiting while it has too
        many batches in flight."""
        parts: list[list[dict]] = [[] for _ in self.runners]
        for record in batch:
            parts[self._owner(record.get("symbol"))].append(record)
        for shard, part in enumerate(parts):
            if part:
                in_flight[shard].append(self.runners[shard].feed.remote(node_id, numbers[shard], part))
                numbers[shard] += 1
                while len(in_flight[shard]) > FEED_AHEAD:
                    await in_flight[shard].popleft()

    def _owner(self, symbol: object) -> int:
        """The shard that owns ``symbol`` (shard 0 for a record without one: its key is set aside there)."""
        owner = self._owners.get(symbol) if type(symbol) is str else 0
        if owner is None:
            owner = self._owners[symbol] = shard_of(symbol, len(self.runners))
        return owner
