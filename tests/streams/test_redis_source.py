"""``RedisStreamSource`` against a real redis-server: where it starts, groups, entries it sets aside."""

from __future__ import annotations

import asyncio

import pytest

from runtime_lib.sources.redis_stream import NOT_A_RECORD, TRIMMED, RedisStreamSource
from tests.streams.jobs import numbers, write_ticks
from tests.support.redis_server import running_redis

WAIT_S = 10


@pytest.fixture(scope="module")
def server():
    """One server for the module's tests; each test reads its own stream."""
    with running_redis() as running:
        yield running


def source(server, stream: str, **params) -> RedisStreamSource:
    """A source of ``stream`` reading batches of 100 and waiting 50 ms for new entries."""
    return RedisStreamSource("ticks", url=server.url(), stream=stream, batch_size=100, block_ms=50, **params)


async def read(reader: RedisStreamSource, count: int, acknowledge: bool = True) -> list[dict]:
    """The next ``count`` records (acknowledging each batch when ``acknowledge``), then close."""
    batches = reader.batches()
    records: list[dict] = []
    try:
        while len(records) < count:
            batch = await asyncio.wait_for(batches.__anext__(), WAIT_S)
            records += batch
            if acknowledge and reader.group:
                await reader.acknowledge([reader.batch_token(len(batch))])
    finally:
        await reader.close()
        await batches.aclose()
    return records


async def nothing_more(reader: RedisStreamSource) -> bool:
    """Whether the source delivers nothing within a few reads."""
    batches = reader.batches()
    try:
        await asyncio.wait_for(batches.__anext__(), 0.5)
    except TimeoutError:
        return True
    finally:
        await reader.close()
        await batches.aclose()
    return False


def test_alone_earliest_reads_the_whole_stream_and_latest_only_what_comes_after_the_start(server):
    client = server.client()
    write_ticks(client, "alone", 250)
    assert numbers(asyncio.run(read(source(server, "alone", start="earliest"), 250))) == list(range(250))

    async def latest() -> list[dict]:
        reader = source(server, "alone", start="latest")
        reading = asyncio.create_task(read(reader, 1))
        await asyncio.sleep(0.3)  # the source has looked up where the stream ends
        client.xadd("alone", {"symbol": b"sBBB", "n": b"i7"})
        return await reading

    assert asyncio.run(latest()) == [{"symbol": "BBB", "n": 7}]


def test_a_new_group_starts_at_the_beginning_and_goes_on_where_it_left_off(server):
    client = server.client()
    write_ticks(client, "grouped", 300)
    first = asyncio.run(read(source(server, "grouped", group="g", consumer="a"), 200))
    assert numbers(first) == list(range(200))
    rest = asyncio.run(read(source(server, "grouped", group="g", consumer="b"), 100))
    assert numbers(rest) == list(range(200, 300))
    assert client.xpending("grouped", "g")["pending"] == 0
    assert asyncio.run(nothing_more(source(server, "grouped", group="g", consumer="a")))
    again = asyncio.run(read(source(server, "grouped", group="g", consumer="a", start="earliest"), 300))
    assert numbers(again) == list(range(300))  # earliest moves the group back to the beginning
    assert asyncio.run(nothing_more(source(server, "grouped", group="g", consumer="b", start="latest")))


def test_unacknowledged_entries_come_again_to_the_same_consumer_and_a_batch_token_names_only_what_was_taken(
    server,
):
    client = server.client()
    write_ticks(client, "pending", 100)

    async def take_half() -> None:
        reader = source(server, "pending", group="g", consumer="a")
        batches = reader.batches()
        batch = await asyncio.wait_for(batches.__anext__(), WAIT_S)
        assert len(batch) == 100
        await reader.acknowledge([reader.batch_token(40)])  # the job took only 40 of them
        await reader.close()
        await batches.aclose()

    asyncio.run(take_half())
    assert client.xpending("pending", "g")["pending"] == 60
    again = asyncio.run(read(source(server, "pending", group="g", consumer="a"), 60))
    assert numbers(again) == list(range(40, 100))
    assert client.xpending("pending", "g")["pending"] == 0


def test_entries_that_are_no_records_or_were_trimmed_are_set_aside_and_acknowledged(server):
    client = server.client()
    client.xadd("foreign", {"price": "101.5"})  # written by some other program
    write_ticks(client, "foreign", 3)
    reader = source(server, "foreign", group="g", consumer="a")
    assert numbers(asyncio.run(read(reader, 3))) == [0, 1, 2]
    assert reader.stats.set_aside == {NOT_A_RECORD: 1}
    assert client.xpending("foreign", "g")["pending"] == 0

    write_ticks(client, "trimmed", 5)
    asyncio.run(read(source(server, "trimmed", group="g", consumer="a"), 5, acknowledge=False))
    client.xtrim("trimmed", maxlen=2, approximate=False)
    later = source(server, "trimmed", group="g", consumer="a")
    assert numbers(asyncio.run(read(later, 2))) == [3, 4]
    assert later.stats.set_aside == {TRIMMED: 3}
    assert client.xpending("trimmed", "g")["pending"] == 0
