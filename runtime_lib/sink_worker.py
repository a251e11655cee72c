"""A sink behind a bounded queue: batches are written in the sink's own thread, in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from .call_thread import CallThread
from .checkpoint_barrier import Barrier
from .errors import JobError
from .sinks.base import Sink, describe_error, sink_failure
from .stats import NodeStats
from .write_timings import WriteTimings

DEFAULT_MAX_PENDING = 64
log = logging.getLogger("mdp.job")


class SinkWorker:
    """Queues batches for one sink and writes them from the sink's thread, one call at a time.

    ``submit`` never drops: the queue may grow past ``max_pending`` for the batch in hand, and
    the sources then wait in :meth:`wait_for_room` (backpressure) until the writer catches up.
    A failing write or close raises a :class:`~runtime_lib.errors.JobError` that names the sink,
    where it writes and the error.
    """

    def __init__(self, sink: Sink, stats: NodeStats, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.sink = sink
        self.stats = stats
        self.max_pending = max_pending
        self.rows_written = 0
        self._pending: deque[list[dict] | Barrier] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._writing = 0  # rows of the write in progress
        self._queued = 0  # rows submitted and not yet handed to a write
        self.write_started: float | None = None  # monotonic time the write in progress began
        self.write_timings = WriteTimings()
        self._closing_sink = False
        self.retrying = ""  # the retry of a failed write being waited for, in words ("" when none)
        self._thread = CallThread(f"mdp-sink-{sink.node_id}")
        self._since_checkpoint: list[list[dict]] | None = None  # batches since the last barrier, if kept

    def keep_for_checkpoints(self) -> None:
        """From now on keep the batches submitted between two barriers: an exactly-once sink's
        snapshot holds them (see :mod:`runtime_lib.sinks.checkpoint_commits`)."""
        self._since_checkpoint = []

    def take_since_checkpoint(self) -> list[list[dict]]:
        """The batches submitted since the last call (none when they are not kept)."""
        taken, self._since_checkpoint = self._since_checkpoint, (
            [] if self._since_checkpoint is not None else None
        )
        return taken or []

    def submit_barrier(self, barrier: Barrier) -> None:
        """Queue a checkpoint's barrier: what was submitted before it is committed with its id
        once its snapshot is on disk (see :mod:`runtime_lib.checkpointing`)."""
        self._pending.append(barrier)
        self._wake.set()

    def submit(self, batch: list[dict]) -> None:
        """Queue a batch for writing (called synchronously from pipeline code)."""
        self.stats.events_in += len(batch)
        self._queued += len(batch)
        self._pending.append(batch)
        if self._since_checkpoint is not None:
            self._since_checkpoint.append(batch)
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
                batches = []
                while self._pending and not isinstance(self._pending[0], Barrier):
                    batches.append(self._pending.popleft())
                self._room.set()
                if batches:
                    await self._write(batches)
                elif self._pending:  # a barrier: what came before it is written
                    await self._commit(self._pending.popleft())
            if self._closing:
                return

    async def _write(self, batches: list[list[dict]]) -> None:
        rows = [record for batch in batches for record in batch]
        self._writing = len(rows)
        self._queued -= len(rows)
        try:
            written = await self._with_retries(f"a write of {len(rows)} rows", self.sink.write, rows)
        finally:
            self._writing = 0
            self.retrying = ""
        self.rows_written += written
        self.stats.events_out += len(rows)

    async def _commit(self, barrier: Barrier) -> None:
        """Commit the checkpoint of ``barrier`` once its snapshot is durable, and say so."""
        if not await barrier.durable:  # the snapshot could not be written: nothing to commit
            return
        try:
            await self._with_retries(
                f"the commit of checkpoint {barrier.id}", self.sink.commit_checkpoint, barrier.id
            )
        finally:
            self.retrying = ""
        barrier.committed(self.sink.node_id)

    async def _with_retries(self, what: str, call, *args):
        """``call(*args)`` in the sink's thread, again after a backoff while the sink calls the failure transient."""
        policy, attempt = self.sink.retry, 1
        while True:
            self.write_started = time.monotonic()
            try:
                return await self._thread.call(call, *args)
            except Exception as exc:
                if attempt >= policy.max_attempts or not self.sink.is_transient(exc):
                    if attempt > 1:
                        exc = JobError(f"{describe_error(exc)} (after {attempt} attempts)")
                    raise sink_failure(self.sink.node_id, self.sink.target, exc, self.rows_written) from None
                wait = policy.backoff_s(attempt)
                self.retrying = (
                    f"attempt {attempt + 1}/{policy.max_attempts} in {wait:g} s after {describe_error(exc)}"
                )
                log.warning("sink %r: %s failed; %s", self.sink.node_id, what, self.retrying)
            finally:
                self.write_timings.observe(time.monotonic() - self.write_started)
                self.write_started = None
            await asyncio.sleep(wait)
            attempt += 1

    async def close(self) -> None:
        """Ask the writer to finish once everything queued is written."""
        self._closing = True
        self._wake.set()

    async def close_sink(self) -> None:
        """Close the sink (flush and release it) in its thread, then end the thread."""
        self._closing_sink = True
        try:
            await self._thread.call(self.sink.close)
        except Exception as exc:
            raise sink_failure(self.sink.node_id, self.sink.target, exc, self.rows_written) from None
        finally:
            self._closing_sink = False
            self._thread.finish()

    def queue_depth(self) -> int:
        """Rows submitted and not yet written (queued, or in the write in progress): read from any thread."""
        return self._queued + self._writing

    def backlog(self) -> str:
        """What this sink has not yet written, in words ("" when nothing): read from any thread."""
        parts = []
        if self._writing:
            retrying = f", retrying: {self.retrying}" if self.retrying else ""
            parts.append(f"a write of {self._writing} rows in progress{retrying}")
        pending = tuple(batch for batch in tuple(self._pending) if not isinstance(batch, Barrier))
        if pending:
            parts.append(f"{len(pending)} batches ({sum(map(len, pending))} rows) queued")
        if self._closing_sink:
            parts.append("closing (flushing what it buffered)")
        return ", ".join(parts)
