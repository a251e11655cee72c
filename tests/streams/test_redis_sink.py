"""``RedisStreamSink`` against a real redis-server: entries, trimming, and what a failure is."""

from __future__ import annotations

import pytest

from runtime_lib.errors import JobError
from runtime_lib.redis_codec import decode_record
from runtime_lib.sinks.redis_stream import RedisStreamSink
from tests.support.redis_server import running_redis


@pytest.fixture(scope="module")
def server():
    """One server for the module's tests; each test writes its own stream."""
    with running_redis() as running:
        yield running


def ticks(count: int, start: int = 0) -> list[dict]:
    """Numbered tick records."""
    return [
        {"symbol": "AAA", "ts": n, "price": 100 + n / 8, "size": n % 7, "bid": None}
        for n in range(start, start + count)
    ]


def stream_records(server, stream: str) -> list[dict]:
    """Every record of ``stream``, in order."""
    return [decode_record(fields) for _id, fields in server.client().xrange(stream)]


def test_each_record_becomes_one_entry_in_order(server):
    sink = RedisStreamSink("out", url=server.url(), stream="plain")
    try:
        assert sink.write(ticks(300)) == 300
        assert sink.write(ticks(5, start=300)) == 5
    finally:
        sink.close()
    assert stream_records(server, "plain") == ticks(305)
    assert sink.target == f"redis://127.0.0.1:{server.port}/0 stream plain"


def test_maxlen_trims_the_stream_to_about_that_many_entries_keeping_the_newest(server):
    sink = RedisStreamSink("out", url=server.url(), stream="trimmed", maxlen=100)
    try:
        for start in range(0, 5000, 500):
            sink.write(ticks(500, start))
    finally:
        sink.close()
    kept = stream_records(server, "trimmed")
    assert 100 <= len(kept) < 1000  # XADD MAXLEN ~ trims whole internal nodes
    assert kept == ticks(len(kept), start=5000 - len(kept))


def test_a_nested_value_stops_the_job_naming_record_and_field_and_writes_nothing(server):
    sink = RedisStreamSink("out", url=server.url(), stream="nested")
    with pytest.raises(JobError) as caught:
        sink.write([*ticks(2), {"symbol": "AAA", "legs": [1, 2]}])
    sink.close()
    assert str(caught.value).startswith("record 3 of the batch: field 'legs' holds a nested list")
    assert server.client().exists("nested") == 0
    assert not sink.is_transient(caught.value)


def test_a_server_that_went_away_is_a_passing_error_and_the_next_write_reconnects():
    with running_redis(appendonly=True) as server:
        sink = RedisStreamSink("out", url=server.url(), stream="restarted")
        try:
            sink.write(ticks(10))
            server.stop()
            with pytest.raises(Exception) as caught:
                sink.write(ticks(10, start=10))
            assert sink.is_transient(caught.value), repr(caught.value)
            server.start()
            sink.write(ticks(10, start=10))
        finally:
            sink.close()
        assert stream_records(server, "restarted") == ticks(20)


def test_a_wrong_password_is_not_a_passing_error():
    with running_redis(password="right-one") as secured:
        sink = RedisStreamSink("out", url=secured.url(password="wrong-one"), stream="s")
        with pytest.raises(Exception) as caught:
            sink.write(ticks(1))
        sink.close()
    assert not sink.is_transient(caught.value)
    assert sink.target == f"redis://:***@127.0.0.1:{secured.port}/0 stream s"
