"""The live run loop: sources as tasks, sinks behind bounded queues, timers, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .acks import Acknowledgements
from .checkpointing import Checkpointer, CheckpointOptions
from .context import BuildContext, Push
from .log_format import lifecycle
from .sink_worker import SinkWorker
from .sinks.base import sink_failure
from .sources.base import Source
from .stopping import Watchdog, grace_from_env

log = logging.getLogger("mdp.job")
TIMER_INTERVAL_S = 0.2
DRAIN_TIMEOUT_S = 5.0


@dataclass
class RunOptions:
    """How long to run and what to expose."""

    duration: float | None = None
    max_events: int | None = None
    metrics_port: int | None = None
    labels: dict[str, str] | None = None  # constant labels added to every metric
    stop_grace: float | None = None  # seconds to finish after a stop request (None: $MDP_STOP_GRACE_S or 8)
    mode: str = "dag"  # the config section the job was compiled from: dag or classic
    config_path: str | None = None  # the config file, as the generated module's header names it
    config_sha256: str | None = None  # the sha256 of the config's text
    job_name: str = ""
    checkpoint: CheckpointOptions | None = None  # None: no checkpoints


class LiveContext(BuildContext):
    """Builds real sinks (behind :class:`SinkWorker` queues) for a live run."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: dict[str, SinkWorker] = {}
        self.running: dict[str, Source] = {}  # the sources of the run, once it has started them
        self.phase = "starting"  # then running, stopping (flushing and draining), stopped

    def sink(self, node_id: str, node_type: str, cls: type, **params) -> Push:
        """Create the sink and return its worker's ``submit``; a sink that cannot start names itself."""
        try:
            sink = cls(node_id, **params)
        except Exception as exc:
            raise sink_failure(node_id, "", exc) from None
        worker = SinkWorker(sink, self.stats(node_id, node_type))
        self.workers[node_id] = worker
        return worker.submit


class Run:
    """One execution of a built pipeline."""

    def __init__(self, ctx: LiveContext, options: RunOptions) -> None:
        self.ctx = ctx
        self.options = options
        self.stop = asyncio.Event()
        self.events_in = 0
        self.sources: dict[str, Source] = ctx.running
        self.failure: BaseException | None = None
        self.busy: tuple[str, float] | None = None  # pipeline code running now, and since when
        self.flushed = False  # whether the stateful operators have been flushed
        # acknowledges what sources such as a Redis consumer group read, once the sinks wrote it
        self.acks = Acknowledgements(ctx.workers.values(), ctx.operators)
        self.sources_ended = False  # whether every source reached the end of its input
        self.checkpoints = (
            None
            if options.checkpoint is None
            else Checkpointer(options.job_name, options.checkpoint, ctx, ctx.state_nodes)
        )

    def _take(self, batch: list[dict]) -> list[dict]:
        limit = self.options.max_events
        if limit is not None and self.events_in + len(batch) >= limit:
            batch = batch[: limit - self.events_in]
            self.stop.set()
            if self.checkpoints is not None:  # the source's position counts the records cut off
                self.checkpoints.frozen = True
        self.events_in += len(batch)
        return batch

    def _run_code(self, what: str, code: Callable[..., None], *args: object) -> None:
        """Run synchronous pipeline code, noting what runs for a report if it never returns."""
        self.busy = (what, time.monotonic())
        try:
            code(*args)
        finally:
            self.busy = None

    async def _feed(self, source_id: str, source: Source) -> None:
        push, stats = self.ctx.outputs[source_id], self.ctx.node_stats[source_id]
        async for batch in source.batches():
            batch = self._take(batch)
            if batch:
                stats.add(0, len(batch))
                newest = batch[-1].get("ts")
                if type(newest) is int and (stats.newest_ts is None or newest > stats.newest_ts):
                    stats.newest_ts = newest
                self._run_code(f"the push of a batch of {len(batch)} records from {source_id!r}", push, batch)
                if self.checkpoints is None:  # with checkpoints, what was read is acknowledged with them
                    self.acks.pushed(source_id, source, len(batch))  # no await since the source yielded it
            for worker in self.ctx.workers.values():
                await worker.wait_for_room()
            if self.stop.is_set() and not source.live:
                break  # a live source is closed instead, and hands over what it still holds
            await asyncio.sleep(0)  # let signals, timers and the other feeds in between batches

    async def _timers(self, live: bool) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(TIMER_INTERVAL_S)
            try:
                self._run_code("a timer", self.ctx.fire_timers, time.time_ns(), live)
            except Exception as exc:  # a failing timer stops the job like a failing feed
                self.failure = exc
                self.stop.set()

    async def execute(self, watchdog: bool = True) -> None:
        """Run until the sources end, a limit is reached or a signal arrives; then drain.

        A signal or the end of ``duration`` starts the grace period of :mod:`.stopping`. Without
        the ``watchdog`` (a job run in someone else's event loop, whose signals are theirs) only
        ``duration`` and :attr:`stop` end the run, and nothing exits the process.
        """
        loop = asyncio.get_running_loop()
        if not watchdog:
            timer = (
                None
                if self.options.duration is None
                else loop.call_later(self.options.duration, self.stop.set)
            )
            try:
                await self._execute()
            finally:
                if timer is not None:
                    timer.cancel()
            return
        grace = self.options.stop_grace if self.options.stop_grace is not None else grace_from_env()

        def request_stop() -> None:
            try:
                loop.call_soon_threadsafe(self.stop.set)
            except RuntimeError:  # the loop has closed: the run is over anyway
                pass

        with Watchdog(request_stop, self.unflushed, self.options.duration, grace):
            await self._execute()

    async def _execute(self) -> None:
        for source_id, (_type, cls, params) in self.ctx.sources.items():
            self.sources[source_id] = cls(source_id, **params)
            self.sources[source_id].stats = self.ctx.node_stats[source_id]
        if self.checkpoints is not None:
            await asyncio.to_thread(self.checkpoints.resume)
        writers = [asyncio.create_task(w.run()) for w in self.ctx.workers.values()]
        feeds = [asyncio.create_task(self._feed(i, s)) for i, s in self.sources.items()]
        background = []
        live = any(s.live for s in self.sources.values())
        if live or any(getattr(op, "processing_time", False) for _id, op in self.ctx.operators):
            background.append(asyncio.create_task(self._timers(live)))
        if self.checkpoints is None and any(hasattr(s, "batch_token") for s in self.sources.values()):
            background.append(asyncio.create_task(self.acks.run()))
        if self.checkpoints is not None:
            background.append(asyncio.create_task(self.checkpoints.run_periodically()))
        stopper = asyncio.create_task(self.stop.wait())
        self.ctx.phase = "running"
        try:
            await self._until_done(feeds, stopper, writers)
        finally:
            self.ctx.phase = "stopping"
            await self._stop_sources(feeds, background + [stopper])
            try:
                # with checkpoints, the last one: a savepoint keeping the open windows, or the end;
                # none when a batch was cut short (its position counts what was cut off)
                saving = self.checkpoints is not None and self.failure is None and not self.checkpoints.frozen
                keep_windows = (
                    saving and not self.sources_ended and self.options.checkpoint.on_stop == "savepoint"
                )
                if self.failure is None and self.ctx.operators and not keep_windows:
                    self._run_code("the flush of the stateful operators", self.ctx.flush_operators)
                    held = [node_id for node_id, _operator in self.ctx.operators]
                    lifecycle(
                        "flush",
                        f"flushed the open windows and held records of {', '.join(map(repr, held))}",
                        operators=held,
                    )
                if saving:
                    await self.checkpoints.take("savepoint" if keep_windows else "end")
            except Exception as exc:  # the sinks are still drained and closed below
                self.failure = exc
            self.flushed = True
            for worker in self.ctx.workers.values():
                await worker.close()
            results = await asyncio.gather(*writers, return_exceptions=True)
            for worker in self.ctx.workers.values():
                try:
                    await worker.close_sink()
                except Exception as exc:  # reported below unless something failed before
                    results.append(exc)
            # what the sinks wrote is acknowledged now; without the final flush, only what was
            # written before (see runtime_lib/acks.py for the rule); with checkpoints, what the
            # committed ones hold
            await self.acks.finish(flushed=self.failure is None)
            if self.checkpoints is not None:
                await self.checkpoints.settle()
            if self.checkpoints is not None and self.sources_ended and self.failure is None:
                if not any(isinstance(result, BaseException) for result in results):
                    self.checkpoints.finished()  # the whole input is committed: nothing to resume
            self.ctx.phase = "stopped"
        if self.failure is not None:
            raise self.failure
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def unflushed(self) -> str:
        """What stopping now would leave unwritten, in words: read from any thread."""
        parts = []
        if self.busy is not None:
            what, since = self.busy
            parts.append(
                f"{what} has not returned after {time.monotonic() - since:.1f} s "
                "(a plugin function or an expression that does not end?)"
            )
        if not self.flushed and self.ctx.operators:
            held = ", ".join(repr(node_id) for node_id, _operator in self.ctx.operators)
            parts.append(f"the open windows and held records of {held}")
        for node_id, worker in self.ctx.workers.items():
            backlog = worker.backlog()
            if backlog:
                where = f" ({worker.sink.target})" if worker.sink.target else ""
                parts.append(f"sink {node_id!r}{where}: {backlog}")
        return "; ".join(parts) if parts else "nothing was pending"

    async def _stop_sources(self, feeds: list[asyncio.Task], background: list[asyncio.Task]) -> None:
        """Stop the feeds. A live source is closed first and its feed left to push what the
        source still held (up to ``DRAIN_TIMEOUT_S``); other feeds are cancelled at once."""
        for task in background:
            task.cancel()
        live = [(task, source) for task, source in zip(feeds, self.sources.values()) if source.live]
        for task, source in zip(feeds, self.sources.values()):
            if not source.live:
                task.cancel()
        for task, source in live:
            if not task.done():
                await source.close()
        if live:
            await asyncio.wait([task for task, _ in live], timeout=DRAIN_TIMEOUT_S)
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, *background, return_exceptions=True)
        for source in self.sources.values():
            await source.close()

    async def _until_done(
        self, feeds: list[asyncio.Task], stopper: asyncio.Task, writers: list[asyncio.Task]
    ) -> None:
        """Wait for the feeds to end or a stop; a feed or sink writer that fails stops the run
        (a dead writer would otherwise leave the sources waiting for room forever)."""
        pending, watched = set(feeds), set(writers)
        while pending and not self.stop.is_set():
            done, _ = await asyncio.wait(pending | watched | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                pending.discard(task)
                watched.discard(task)
                if task.exception() is not None:
                    self.failure = task.exception()
                    self.stop.set()
        self.sources_ended = not pending and not self.stop.is_set() and self.failure is None


def run_live(ctx: LiveContext, options: RunOptions) -> None:
    """Run a built pipeline to completion; its counters stay on ``ctx``."""
    asyncio.run(Run(ctx, options).execute())
