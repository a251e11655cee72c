"""ReplaySource and read_ticks: parsing, filtering, errors with file and line, batching, pacing."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest

from runtime_lib.errors import JobError
from runtime_lib.sources.replay import ReplaySource, read_ticks

HEADER = "symbol,ts,price,size,bid,ask,bid_size,ask_size,exchange\n"
ROWS = (
    "AAPL,2024-03-15T09:30:00.123456789-04:00,171.25,100,171.24,171.26,300,200,XNAS\n"
    "MSFT,1710509400500000000,415.5,12.5,,,,,\n"
    "AAPL,2024-03-15T13:30:01Z,171.3,7,171.29,171.31,100,100,\n"
)


T0 = 1_710_509_400_000_000_000  # 2024-03-15T13:30:00Z: a plausible timestamp in nanoseconds


def write(path, text: str):
    """Write ``text`` to ``path`` (gzip-compressed when the name ends in .gz) and return the path."""
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def collect(source: ReplaySource) -> list[list[dict]]:
    """Run the source to its end and return its batches."""

    async def run() -> list[list[dict]]:
        return [batch async for batch in source.batches()]

    return asyncio.run(run())


def test_reads_types_offsets_and_optional_columns(tmp_path):
    ticks = list(read_ticks(str(write(tmp_path / "t.csv", HEADER + ROWS))))
    assert ticks == [
        {
            "symbol": "AAPL",
            "ts": 1_710_509_400_123_456_789,
            "price": 171.25,
            "size": 100,
            "bid": 171.24,
            "ask": 171.26,
            "bid_size": 300,
            "ask_size": 200,
            "exchange": "XNAS",
        },
        {"symbol": "MSFT", "ts": 1_710_509_400_500_000_000, "price": 415.5, "size": 12.5},
        {
            "symbol": "AAPL",
            "ts": 1_710_509_401_000_000_000,
            "price": 171.3,
            "size": 7,
            "bid": 171.29,
            "ask": 171.31,
            "bid_size": 100,
            "ask_size": 100,
        },
    ]
    assert type(ticks[0]["size"]) is int and type(ticks[0]["price"]) is float
    assert type(ticks[1]["size"]) is float


def test_gzip_reads_the_same_ticks(tmp_path):
    plain = list(read_ticks(str(write(tmp_path / "t.csv", HEADER + ROWS))))
    packed = list(read_ticks(str(write(tmp_path / "t.csv.gz", HEADER + ROWS))))
    assert packed == plain


def test_only_required_columns_in_any_order(tmp_path):
    path = write(tmp_path / "t.csv", f"size,price,ts,symbol\n5,1.5,{T0},X\n")
    assert list(read_ticks(str(path))) == [{"symbol": "X", "ts": T0, "price": 1.5, "size": 5}]


def test_symbols_filter(tmp_path):
    path = str(write(tmp_path / "t.csv", HEADER + ROWS))
    assert [t["symbol"] for t in read_ticks(path, ("AAPL",))] == ["AAPL", "AAPL"]
    assert [t["symbol"] for t in read_ticks(path, ("MSFT", "NVDA"))] == ["MSFT"]
    source = ReplaySource("ticks", path=path, symbols=("MSFT",))
    assert [[t["symbol"] for t in b] for b in collect(source)] == [["MSFT"]]


def test_relative_path_resolves_against_cwd(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    write(tmp_path / "data" / "t.csv", HEADER + ROWS)
    monkeypatch.chdir(tmp_path)
    assert len(list(read_ticks("data/t.csv"))) == 3
    assert sum(len(b) for b in collect(ReplaySource("ticks", path="data/t.csv"))) == 3


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (HEADER + ROWS + "AAPL,2024-03-15T09:31:00,171.3,7,,,,,\n", ":5:", "no UTC offset"),
        (HEADER + f"AAPL,{T0},abc,7,,,,,\n", ":2:", "'price' is not a number: 'abc'"),
        (HEADER + ROWS + f"AAPL,{T0},1.0,7,,,x1,,\n", ":5:", "'bid_size' is not a number"),
        (HEADER + f"AAPL,{T0},nan,7,,,,,\n", ":2:", "not a finite number"),
        (HEADER + "AAPL,,1.0,7,,,,,\n", ":2:", "empty 'ts'"),
        (HEADER + f"AAPL,{T0},1.0\n", ":2:", "expected 9 fields, found 3"),
        ("symbol,ts,size\nAAPL,1,7\n", ":1:", "missing required column 'price'"),
        ("", ":1:", "empty file"),
    ],
)
def test_bad_rows_report_path_and_line(tmp_path, text, where, words):
    path = str(write(tmp_path / "bad.csv", text))
    with pytest.raises(JobError) as caught:
        list(read_ticks(path))
    assert str(caught.value).startswith(path + where)
    assert words in str(caught.value)


def test_bad_row_in_gzip_file_reports_line(tmp_path):
    path = str(write(tmp_path / "bad.csv.gz", HEADER + ROWS + f"AAPL,{T0},1.0,seven,,,,,\n"))
    with pytest.raises(JobError, match=r"bad\.csv\.gz:5: 'size' is not a number"):
        list(read_ticks(path))


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(JobError, match="nope.csv: no such file"):
        list(read_ticks(path))
    with pytest.raises(JobError, match="no such file"):
        collect(ReplaySource("ticks", path=path))


def test_batches_keep_file_order_and_size(tmp_path):
    rows = "".join(f"S{i % 3},{T0 + i},1.0,{i}\n" for i in range(10))
    path = str(write(tmp_path / "t.csv", "symbol,ts,price,size\n" + rows))
    batches = collect(ReplaySource("ticks", path=path, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [t["size"] for b in batches for t in b] == list(range(10))


def test_unpaced_replay_lets_other_tasks_run(tmp_path):
    rows = "".join(f"X,{T0 + i},1.0,1\n" for i in range(50))
    path = str(write(tmp_path / "t.csv", "symbol,ts,price,size\n" + rows))
    seen: list[int] = []

    async def run() -> None:
        ticks = 0

        async def watcher() -> None:
            while True:
                seen.append(ticks)
                await asyncio.sleep(0)

        task = asyncio.create_task(watcher())
        async for batch in ReplaySource("ticks", path=path, batch_size=10).batches():
            ticks += len(batch)
        task.cancel()

    asyncio.run(run())
    assert len(set(seen)) >= 3  # the watcher ran between batches, not only before and after


def test_speed_paces_by_event_time(tmp_path):
    base = 1_710_509_400_000_000_000
    rows = "".join(f"X,{base + k * 100_000_000},1.0,1\n" for k in (0, 0, 1, 2))
    path = str(write(tmp_path / "t.csv", "symbol,ts,price,size\n" + rows))

    started = time.monotonic()
    batches = collect(ReplaySource("ticks", path=path, speed=1.0))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.15  # 0.2 s of event time at real time
    assert [len(b) for b in batches] == [2, 1, 1]  # ticks due together travel together

    started = time.monotonic()
    assert len(collect(ReplaySource("ticks", path=path, speed=1000.0))) >= 1
    assert time.monotonic() - started < elapsed


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ReplaySource("ticks", path="x.csv", speed=-1)
    with pytest.raises(ValueError):
        ReplaySource("ticks", path="x.csv", batch_size=0)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(b"symbol,ts,price,size\n")
    with pytest.raises(JobError, match=r"t\.csv\.gz:1: unreadable data"):
        list(read_ticks(str(path)))
