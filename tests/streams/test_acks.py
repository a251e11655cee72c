"""The acknowledgement rule: a batch is acknowledged once every sink has written what it became,
and not while a stateful operator may still hold some of it."""

from __future__ import annotations

import asyncio
import logging
from operator import itemgetter

from runtime_lib.acks import Acknowledgements, holds_records
from runtime_lib.operators.buffer import Buffer
from runtime_lib.operators.deduplicate import Deduplicate
from runtime_lib.operators.resample_ohlc import ResampleOHLC
from runtime_lib.operators.throttle import Throttle
from runtime_lib.sink_worker import SinkWorker
from runtime_lib.sinks.null import NullSink
from runtime_lib.stats import NodeStats


class Reader:
    """A source that names each batch by a number and records what it is asked to acknowledge."""

    def __init__(self, fail: int = 0) -> None:
        self.batch = 0
        self.acknowledged: list[str] = []
        self.fail = fail  # how many acknowledgements fail first
        self.closed = 0

    def batch_token(self, taken: int) -> str | None:
        """``"batch:taken"``, or None for an empty batch."""
        return f"{self.batch}:{taken}" if taken else None

    async def acknowledge(self, tokens: list[str]) -> None:
        """Note ``tokens``, or fail while failures are left."""
        if self.fail:
            self.fail -= 1
            raise ConnectionError("connection refused")
        self.acknowledged += tokens

    async def close(self) -> None:
        """Count the calls."""
        self.closed += 1


def stats(node_id: str) -> NodeStats:
    """Counters of an operator."""
    return NodeStats(node_id, "operator.test")


def rows(count: int, start: int = 0) -> list[dict]:
    """Tick records one second apart."""
    return [{"symbol": "AAA", "ts": n * 10**9, "price": 1.0, "size": 1} for n in range(start, start + count)]


async def written(worker: SinkWorker) -> None:
    """Let the worker write everything submitted so far."""
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        await asyncio.sleep(0.001)
        if worker.stats.events_out == worker.stats.events_in:
            break
    task.cancel()


def test_without_operators_a_batch_is_acknowledged_once_every_sink_wrote_it():
    async def scenario():
        worker = SinkWorker(NullSink("out"), NodeStats("out", "sink.null"))
        reader, acks = Reader(), Acknowledgements([worker], [])
        worker.submit(rows(3))
        reader.batch = 1
        acks.pushed("ticks", reader, 3)
        await acks.settle()
        assert reader.acknowledged == []  # submitted, not written yet
        await written(worker)
        await acks.settle()
        assert reader.acknowledged == ["1:3"] and acks.waiting == 0

    asyncio.run(scenario())


def test_behind_a_buffer_a_batch_waits_until_the_buffer_has_released_it():
    async def scenario():
        worker = SinkWorker(NullSink("out"), NodeStats("out", "sink.null"))
        buffer = Buffer("buffer", stats("buffer"), max_items=5, max_wait_ns=10**12)
        reader, acks = Reader(), Acknowledgements([worker], [("buffer", buffer)])
        for batch in (1, 2):
            worker.submit(buffer.process(rows(3)))  # the first three are held, then five go on
            reader.batch = batch
            acks.pushed("ticks", reader, 3)
            await written(worker)
            await acks.settle()
        assert reader.acknowledged == []  # one record of batch 2 is still held
        worker.submit(buffer.flush())
        reader.batch = 3
        acks.pushed("ticks", reader, 1)
        await written(worker)
        await acks.settle()
        assert reader.acknowledged == ["1:3", "2:3", "3:1"]

    asyncio.run(scenario())


def test_behind_windows_batches_are_acknowledged_only_after_the_final_flush():
    async def scenario():
        worker = SinkWorker(NullSink("out"), NodeStats("out", "sink.null"))
        bars = ResampleOHLC(
            "bars", stats("bars"), window_ns=60 * 10**9, interval="1m", key=itemgetter("symbol")
        )
        reader, acks = Reader(), Acknowledgements([worker], [("bars", bars)])
        for batch in range(1, 4):
            worker.submit(bars.process(rows(60, start=60 * batch)))  # each closes the window before it
            reader.batch = batch
            acks.pushed("ticks", reader, 60)
        await written(worker)
        await acks.settle()
        assert reader.acknowledged == []  # the newest window is open
        worker.submit(bars.flush())
        await written(worker)
        await acks.finish(flushed=True)
        assert reader.acknowledged == ["1:60", "2:60", "3:60"] and reader.closed == 1

    asyncio.run(scenario())


def test_without_the_final_flush_what_was_read_stays_pending_and_is_said_so(caplog):
    async def scenario():
        worker = SinkWorker(NullSink("out"), NodeStats("out", "sink.null"))
        bars = ResampleOHLC(
            "bars", stats("bars"), window_ns=60 * 10**9, interval="1m", key=itemgetter("symbol")
        )
        reader, acks = Reader(), Acknowledgements([worker], [("bars", bars)])
        bars.process(rows(10))
        reader.batch = 1
        acks.pushed("ticks", reader, 10)
        with caplog.at_level(logging.WARNING, "mdp.job"):
            await acks.finish(flushed=False)
        assert reader.acknowledged == []

    asyncio.run(scenario())
    assert "provider 'ticks': 1 batches read stay pending" in caplog.text


def test_a_failed_acknowledgement_is_tried_again_later():
    async def scenario():
        worker = SinkWorker(NullSink("out"), NodeStats("out", "sink.null"))
        reader, acks = Reader(fail=2), Acknowledgements([worker], [])
        acks.pushed("ticks", reader, 2)
        for _ in range(3):
            await acks.settle()
        assert reader.acknowledged == ["0:2"]

    asyncio.run(scenario())


def test_which_operators_may_hold_records():
    dedupe = Deduplicate("dedupe", stats("dedupe"), key=itemgetter("ts"), ttl_ns=10)
    throttle = Throttle("slow", stats("slow"), rate=1.0, burst=1, on_excess="delay")
    assert not holds_records(dedupe) and not holds_records(throttle)
    throttle.process(rows(3))
    assert holds_records(throttle)
