"""A sink write that fails for a passing reason is tried again with the same rows, after a
backoff, while the queue stays bounded; a lasting or permanent failure stops the job."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runtime_lib.errors import JobError
from runtime_lib.retry import RetryPolicy
from runtime_lib.sink_worker import SinkWorker
from runtime_lib.sinks.base import Sink
from runtime_lib.stats import NodeStats

FAST = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.02)


class FlakySink(Sink):
    """Keeps what it is given; its first ``failures`` writes raise ``error`` instead."""

    def __init__(self, failures: int, error: Exception, retry: RetryPolicy = FAST) -> None:
        super().__init__("flaky", retry)
        self.failures = failures
        self.error = error
        self.attempts = 0
        self.rows: list[dict] = []

    def write(self, batch: list[dict]) -> int:
        """Fail while failures are left, else keep the batch."""
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise self.error
        self.rows.extend(batch)
        return len(batch)

    def is_transient(self, error: BaseException) -> bool:
        """A lost connection passes; anything else does not."""
        return isinstance(error, ConnectionError)


async def drain(worker: SinkWorker, batches: list[list[dict]]) -> None:
    """Submit ``batches``, then let the worker write them all and finish."""
    writer = asyncio.create_task(worker.run())
    for batch in batches:
        worker.submit(batch)
    await worker.close()
    try:
        await asyncio.wait_for(writer, 5)
    finally:
        await worker.close_sink()


def batches_of(count: int, size: int = 3) -> list[list[dict]]:
    """``count`` batches of numbered records."""
    return [[{"n": i * size + j} for j in range(size)] for i in range(count)]


def test_a_transient_failure_is_retried_and_every_row_written_once(caplog):
    sink = FlakySink(2, ConnectionError("connection refused"))
    worker = SinkWorker(sink, NodeStats("flaky", "sink.test"))
    with caplog.at_level(logging.WARNING, "mdp.job"):
        asyncio.run(drain(worker, batches_of(5)))
    assert [row["n"] for row in sink.rows] == list(range(15))
    assert worker.rows_written == 15 and sink.attempts == 3
    retries = [r.getMessage() for r in caplog.records if "failed; attempt" in r.getMessage()]
    assert len(retries) == 2 and "ConnectionError: connection refused" in retries[0]
    assert worker.retrying == "" and worker.write_timings.count == 3


def test_a_permanent_failure_is_not_retried():
    sink = FlakySink(1, PermissionError("password authentication failed"))
    worker = SinkWorker(sink, NodeStats("flaky", "sink.test"))
    with pytest.raises(JobError) as caught:
        asyncio.run(drain(worker, batches_of(1)))
    assert sink.attempts == 1
    assert str(caught.value) == (
        "sink 'flaky' failed: PermissionError: password authentication failed; it had written no rows"
    )


def test_a_failure_that_outlasts_the_attempts_says_how_many_were_made():
    sink = FlakySink(10, ConnectionError("connection refused"))
    worker = SinkWorker(sink, NodeStats("flaky", "sink.test"))
    with pytest.raises(JobError) as caught:
        asyncio.run(drain(worker, batches_of(1)))
    assert sink.attempts == FAST.max_attempts
    assert "ConnectionError: connection refused (after 4 attempts)" in str(caught.value)


def test_while_a_write_is_retried_the_queue_stays_bounded_and_the_sources_wait():
    slow = RetryPolicy(max_attempts=3, initial_backoff_s=0.3, max_backoff_s=0.3)
    sink = FlakySink(1, ConnectionError("server restarting"), slow)
    worker = SinkWorker(sink, NodeStats("flaky", "sink.test"), max_pending=2)

    async def scenario() -> tuple[bool, str, list[int]]:
        writer = asyncio.create_task(worker.run())
        worker.submit([{"n": 0}])
        await asyncio.sleep(0.1)  # the first write has failed; the retry waits
        worker.submit([{"n": 1}])
        worker.submit([{"n": 2}])
        room = asyncio.create_task(worker.wait_for_room())
        await asyncio.sleep(0.05)
        waited, backlog = not room.done(), worker.backlog()
        await asyncio.wait_for(room, 5)  # the retry succeeded and the writer took the queue
        await worker.close()
        await asyncio.wait_for(writer, 5)
        await worker.close_sink()
        return waited, backlog, [row["n"] for row in sink.rows]

    waited, backlog, written = asyncio.run(scenario())
    assert waited, "a source could add batches beyond the bound while the write was retried"
    assert "retrying: attempt 2/3 in 0.3 s after ConnectionError: server restarting" in backlog
    assert written == [0, 1, 2]


def test_a_retry_policy_from_bad_params_is_a_job_error():
    with pytest.raises(JobError, match="unknown keys"):
        RetryPolicy.from_params({"attempts": 3})
    with pytest.raises(JobError, match="max_attempts >= 1"):
        RetryPolicy.from_params({"max_attempts": 0})
