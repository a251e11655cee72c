"""Every source that can resume, stopped after any batch and resumed in a fresh source from its
position, hands on exactly the records of an uninterrupted read, and counts each row it sets
aside once; an input that changed since the position is refused."""

from __future__ import annotations

import asyncio
import functools
import gzip
import os
import shutil
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.errors import JobError
from runtime_lib.sources.base import Source
from runtime_lib.sources.redis_stream import NOT_A_RECORD, RedisStreamSource
from runtime_lib.sources.replay import ReplaySource
from runtime_lib.sources.source_bounds import event_step_ns
from runtime_lib.sources.synthetic import SyntheticSource, synthetic_ticks
from tests.checkpoints import READ_TIMEOUT_S, resumed_read, round_trip, take_batches, whole_read
from tests.streams.jobs import numbers, write_ticks
from tests.support.redis_server import running_redis

T0 = 1_710_509_400_000_000_000  # 2024-03-15T13:30:00Z
SECOND = 1_000_000_000
ROWS = 8_000
BAD_EVERY = 97
BAD_ROWS = ("A,notatime,1.0,1", ",{ts},1.0,1", "A,{ts},1.0,-5", "C,{ts},nan,2", "A,{ts},1.5")
READS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BATCH_SIZES = st.sampled_from([1, 7, 500, 4096])
SYMBOLS = st.sampled_from([None, ("A", "C")])


def csv_text() -> str:
    """Ticks of three symbols with a row that is no tick every :data:`BAD_EVERY` rows."""
    lines = ["symbol,ts,price,size"]
    for i in range(ROWS):
        ts = T0 + i * 1_000
        if i % BAD_EVERY == 5:
            lines.append(BAD_ROWS[i // BAD_EVERY % len(BAD_ROWS)].format(ts=ts))
        else:
            lines.append(f"{'ABC'[i % 3]},{ts},{100 + i % 50 / 4},{1 + i % 9}")
    return "\n".join(lines) + "\n"


def tick_table(first: int, count: int, with_symbol: bool = True) -> pa.Table:
    """``count`` ticks from number ``first``, some with a null price or a negative size."""
    numbers_ = range(first, first + count)
    columns = {
        "ts": pa.array([T0 + i * 1_000 for i in numbers_], pa.int64()),
        "price": pa.array([None if i % 401 == 3 else 100 + i % 50 / 4 for i in numbers_], pa.float64()),
        "size": pa.array([-1 if i % 577 == 9 else 1 + i % 9 for i in numbers_], pa.int64()),
    }
    if with_symbol:
        columns = {"symbol": pa.array(["ABC"[i % 3] for i in numbers_]), **columns}
    return pa.table(columns)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """The same kind of ticks as CSV, CSV.gz, one Parquet file and a hive-partitioned folder."""
    root = tmp_path_factory.mktemp("inputs")
    text = csv_text()
    (root / "ticks.csv").write_text(text)
    with gzip.open(root / "ticks.csv.gz", "wt") as out:
        out.write(text)
    pq.write_table(tick_table(0, ROWS), root / "ticks.parquet", row_group_size=2_500)
    for symbol in "ABC":
        for part in range(3):
            folder = root / "hive" / f"symbol={symbol}"
            folder.mkdir(parents=True, exist_ok=True)
            table = tick_table(part * 1_500, 1_500, with_symbol=False)
            pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=700)
    names = ("ticks.csv", "ticks.csv.gz", "ticks.parquet", "hive")
    return {name: str(root / name) for name in names}


def replay(path: str, symbols=None, **params):
    """A builder of replays of ``path`` taking the batch size."""
    return lambda batch_size: ReplaySource(
        "ticks", path=path, symbols=symbols, batch_size=batch_size, **params
    )


@functools.cache
def uninterrupted(path: str, symbols: tuple[str, ...] | None) -> tuple[list[dict], dict]:
    """The ticks and set-aside counters of an uninterrupted replay (read once per input)."""
    return whole_read(replay(path, symbols)(1024))


# -- replay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ticks.csv", "ticks.csv.gz", "ticks.parquet", "hive"])
@READS
@given(first=BATCH_SIZES, then=BATCH_SIZES, split=st.integers(0, 60), symbols=SYMBOLS)
def test_a_resumed_replay_hands_on_the_rest_and_counts_each_row_set_aside_once(
    inputs, name, first, then, split, symbols
):
    records, set_aside = uninterrupted(inputs[name], symbols)
    assert set_aside and len(records) > ROWS // 3  # the input has rows set aside, and ticks
    assert resumed_read(replay(inputs[name], symbols), first, split, then) == (records, set_aside)


def test_a_replay_resumed_at_its_end_hands_on_nothing(inputs):
    records, set_aside = whole_read(replay(inputs["ticks.csv"])(1024))
    taken, position, _ = asyncio.run(take_batches(replay(inputs["ticks.csv"])(4096)))
    assert position["records"] == len(records) and position["set_aside"] == sum(set_aside.values())
    fresh = replay(inputs["ticks.csv"])(100)
    fresh.resume_at(round_trip(position))
    assert asyncio.run(take_batches(fresh))[0] == []


def test_a_replay_within_a_ts_range_resumes_within_it(inputs):
    build = replay(inputs["ticks.parquet"], ts_range=(T0 + 2_000_000, T0 + 9_000_000))
    assert resumed_read(build, 300, 4, 64) == whole_read(build(1024))


def changed_position(path: str) -> dict:
    """The position of a replay of ``path`` after two batches."""
    return asyncio.run(take_batches(replay(path)(100), 2))[1]


def test_a_changed_file_is_refused_naming_it_and_what_changed(inputs, tmp_path):
    path = tmp_path / "ticks.csv"
    shutil.copy(inputs["ticks.csv"], path)
    position = round_trip(changed_position(str(path)))
    with open(path, "a") as out:
        out.write(f"A,{T0},1.0,1\n")
    with pytest.raises(
        JobError, match=rf"'ticks': the input {path} changed since the checkpoint: its size was"
    ):
        replay(str(path))(100).resume_at(position)

    shutil.copy(inputs["ticks.csv"], path)
    data = bytearray(path.read_bytes())
    data[40] = ord("B") if data[40] != ord("B") else ord("C")  # same size, another symbol
    path.write_bytes(bytes(data))
    with pytest.raises(JobError, match="changed since the checkpoint: its first MiB differs"):
        replay(str(path))(100).resume_at(position)

    path.unlink()
    with pytest.raises(JobError, match="changed since the checkpoint: it is gone"):
        replay(str(path))(100).resume_at(position)


def test_a_changed_parquet_folder_is_refused_naming_the_files(inputs, tmp_path):
    folder = tmp_path / "hive"
    shutil.copytree(inputs["hive"], folder)
    position = round_trip(changed_position(str(folder)))
    (folder / "symbol=D").mkdir()
    pq.write_table(tick_table(0, 10, with_symbol=False), folder / "symbol=D" / "part-0.parquet")
    os.remove(folder / "symbol=A" / "part-1.parquet")
    with pytest.raises(
        JobError,
        match=r"changed since the checkpoint: files added: symbol=D/part-0.parquet; "
        r"files removed: symbol=A/part-1.parquet",
    ):
        replay(str(folder))(100).resume_at(position)


def test_a_paced_replay_resumes_pacing_at_the_record_after_the_position(tmp_path):
    path = tmp_path / "gap.csv"
    hour = 3_600 * SECOND
    path.write_text(f"symbol,ts,price,size\nA,{T0},1.0,1\nA,{T0 + hour},2.0,1\nA,{T0 + hour + 1},3.0,1\n")
    build = replay(str(path), speed=1.0)
    taken, position, _ = asyncio.run(take_batches(build(1), 1))
    fresh = build(1)
    fresh.resume_at(round_trip(position))
    rest, _, _ = asyncio.run(take_batches(fresh))  # an hour's wait would time out
    assert [r["price"] for batch in taken + rest for r in batch] == [1.0, 2.0, 3.0]


def test_a_fifo_has_no_position(tmp_path):
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as out:
            out.write("symbol,ts,price,size\n" + "".join(f"A,{T0 + i},1.5,1\n" for i in range(5)))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        taken, position, _ = asyncio.run(take_batches(ReplaySource("ticks", path=str(fifo)), 1))
    finally:
        writer.join(READ_TIMEOUT_S)
    assert len(taken[0]) == 5 and position is None


# -- synthetic ---------------------------------------------------------------------------------


def synthetic(count=None, seed=3, rate=0.0):
    """A builder of synthetic sources of four symbols taking the batch size."""
    return lambda batch_size: SyntheticSource(
        "ticks", symbols=("A", "B", "C", "D"), seed=seed, count=count, rate=rate, batch_size=batch_size
    )


@settings(max_examples=25, deadline=None)
@given(
    first=st.sampled_from([1, 100, 1024, 1500]),
    then=st.sampled_from([1, 99, 1024, 3000]),
    split=st.integers(0, 12),
    rate=st.sampled_from([0.0, 1e6]),
)
def test_a_resumed_synthetic_stream_goes_on_with_the_same_ticks(first, then, split, rate):
    records, _ = resumed_read(synthetic(count=5_000, rate=rate), first, split, then)
    expected = synthetic_ticks(("A", "B", "C", "D"), seed=3, count=5_000, step_ns=event_step_ns(rate))
    assert records == list(expected)


@pytest.mark.parametrize("first, split, then", [(1024, 1, 1000), (1024, 2, 7), (300, 7, 4096), (5, 1, 2)])
def test_an_endless_synthetic_stream_resumes_where_it_was(first, split, then):
    taken, position, _ = asyncio.run(take_batches(synthetic()(first), split))
    fresh = synthetic()(then)
    fresh.resume_at(round_trip(position))
    rest, _, _ = asyncio.run(take_batches(fresh, 3))
    records = [r for batch in taken + rest for r in batch]
    assert records == list(synthetic_ticks(("A", "B", "C", "D"), seed=3, count=len(records)))


def test_a_synthetic_position_of_another_stream_is_refused():
    position = round_trip(asyncio.run(take_batches(synthetic()(10), 1))[1])
    with pytest.raises(JobError, match="'ticks': the input changed since the checkpoint: seed 3 then, 4 now"):
        synthetic(seed=4)(10).resume_at(position)


# -- redis streams -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    """One throwaway server for the module's tests; each test reads its own stream."""
    with running_redis() as running:
        yield running


def redis_source(server, stream: str, batch_size: int = 100, **params) -> RedisStreamSource:
    """A source of ``stream`` waiting 50 ms for new entries."""
    return RedisStreamSource(
        "ticks", url=server.url(), stream=stream, batch_size=batch_size, block_ms=50, **params
    )


def test_a_resumed_stream_reader_reads_after_the_position_and_sets_aside_once(server):
    client = server.client()
    write_ticks(client, "alone", 120)
    client.xadd("alone", {"price": "101.5"})  # written by some other program: set aside
    write_ticks(client, "alone", 130)
    first = redis_source(server, "alone", start="earliest")
    taken, position, counted = asyncio.run(take_batches(first, 1))
    assert numbers(taken[0]) == list(range(100)) and counted == {}
    fresh = redis_source(server, "alone", batch_size=33, start="earliest")
    fresh.resume_at(round_trip(position))
    rest, _, more = asyncio.run(take_batches(fresh, 5))
    assert numbers(r for batch in taken + rest for r in batch) == list(range(120)) + list(range(130))
    assert more == {NOT_A_RECORD: 1}


def test_a_resumed_reader_started_at_latest_gets_what_came_while_it_was_down(server):
    client = server.client()
    write_ticks(client, "latest", 5)  # before the job: not read

    async def first_run():
        source = redis_source(server, "latest", start="latest")
        batches = source.batches()
        waiting = asyncio.ensure_future(batches.__anext__())
        while source.position() is None:  # until it has looked up where the stream ends
            await asyncio.sleep(0.01)
        write_ticks(client, "latest", 3)
        records = await asyncio.wait_for(waiting, READ_TIMEOUT_S)
        while len(records) < 3:  # the entries may come in more than one read
            records += await asyncio.wait_for(batches.__anext__(), READ_TIMEOUT_S)
        position = source.position()
        await batches.aclose()
        await source.close()
        return records, position

    records, position = asyncio.run(first_run())
    assert numbers(records) == [0, 1, 2]
    write_ticks(client, "latest", 4)  # while the job is down
    fresh = redis_source(server, "latest", start="latest")
    fresh.resume_at(round_trip(position))
    rest, _, _ = asyncio.run(take_batches(fresh, 1))
    assert numbers(rest[0]) == [0, 1, 2, 3]


def test_a_resumed_group_consumer_rereads_its_pending_entries_after_the_position_then_new_ones(server):
    client = server.client()
    write_ticks(client, "grouped", 200)

    async def crash_after_two_batches():
        source = redis_source(server, "grouped", group="g", consumer="a")
        batches = source.batches()
        first = await asyncio.wait_for(batches.__anext__(), READ_TIMEOUT_S)
        position = source.position()
        second = await asyncio.wait_for(batches.__anext__(), READ_TIMEOUT_S)  # handed on after it
        await batches.aclose()
        await source.close()  # nothing acknowledged
        return first, second, position

    first, second, position = asyncio.run(crash_after_two_batches())
    assert numbers(first + second) == list(range(200))
    write_ticks(client, "grouped", 50)
    fresh = redis_source(server, "grouped", group="g", consumer="a", start="earliest")
    fresh.resume_at(round_trip(position))
    rest, _, _ = asyncio.run(take_batches(fresh, 2))
    assert numbers(r for batch in rest for r in batch) == list(range(100, 200)) + list(range(50))
    assert client.xpending("grouped", "g")["pending"] == 250  # the caller acknowledges


def test_a_position_that_is_no_entry_id_is_refused(server):
    with pytest.raises(JobError, match="'ticks': not an entry id of a Redis stream: 'soon'"):
        redis_source(server, "any").resume_at("soon")


def test_a_source_that_cannot_resume_has_no_position_and_refuses_one():
    class Feed(Source):
        node_type = "provider.feed"

    feed = Feed("quotes")
    assert feed.position() is None
    with pytest.raises(
        JobError, match=r"provider 'quotes' \(provider.feed\) cannot resume from a checkpoint"
    ):
        feed.resume_at({"records": 1})
