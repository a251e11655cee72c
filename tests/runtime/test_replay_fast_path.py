"""The pyarrow reading of a replay gives exactly what the standard-library reading gives: the same
ticks (values, types and field order), the same rows set aside with the same reasons and lines,
and the same errors, on files with bad rows of every kind mixed in among good ones, plain or gzip."""

from __future__ import annotations

import asyncio
import gzip
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.errors import JobError
from runtime_lib.sources import replay as replay_module
from runtime_lib.sources import tick_blocks
from runtime_lib.sources.lines import Lines
from runtime_lib.sources.replay import FAST_READER, ReplaySource, read_ticks

pytestmark = pytest.mark.skipif(not FAST_READER, reason="pyarrow 15 or later is not installed")

T0 = 1_710_509_400_000_000_000  # 2024-03-15T13:30:00Z
HEADERS = (
    "symbol,ts,price,size",
    "ts,size,symbol,price",
    "symbol,ts,price,size,bid,ask,bid_size,ask_size,exchange",
    "exchange,ask_size,symbol,bid,ts,size,price",
)
# Cell texts for each kind of column, good and bad: what the row reader refuses, and what pyarrow
# would read otherwise if it were trusted (hex, signs, spaces, underscores, nan(...), long digits).
TS_CELLS = (
    str(T0),
    str(T0 + 123_456_789),
    "2024-03-15T09:30:00.123456-04:00",
    "2024-03-15T13:30:00Z",
    "2024-03-15T13:30:00.5+05:30",
    "2024-02-30T13:30:00Z",
    "2024-03-15T13:30:00",
    "2024-03-15 13:30:00Z",
    "2024-03-15T13:30:00.1234567891Z",
    "1700000000",
    "1700000000000",
    str(2**63 + 5),
    "0" * 21 + str(T0),
    f" {T0}",
    "0x10",
    "-5",
    "",
    "1985-01-01T00:00:00Z",
    "٣",
)
PRICE_CELLS = (
    "10.5",
    "10",
    ".5",
    "+1.5",
    "1e3",
    "-2.25",
    "nan",
    "inf",
    "1e999",
    "nan(1)",
    " 1.5",
    "1_0",
    "ten",
    "",
)
SIZE_CELLS = (
    "100",
    "007",
    "12.5",
    "1e2",
    "-0",
    "-5",
    "+5",
    " 5",
    "1_000",
    "0x10",
    str(2**63),
    "inf",
    "-0.0",
    "",
)
TEXT_CELLS = ("XNAS", "", "ÄÖ", "a b")
SYMBOL_CELLS = ("AAA", "BBB", "", "CCC", "Ünï")
ODD_LINES = (
    '"AAA",1,2,3',
    '"AAA,1,2,3',
    "AAA,1\r2,3,4",
    "",
    " ",
    "AAA,1,2",
    "AAA,1,2,3,4,5,6,7,8,9,10",
)
ODD_BYTES = (b"AAA,\xff,1,1", b"\xed\xa0\x80,1,1,1")


def cell(kind: str, rng: random.Random, good: bool) -> str:
    """A cell of column ``kind``: a plainly good one, or any from the catalogue."""
    if kind == "symbol":
        return rng.choice(SYMBOL_CELLS[:2] if good else SYMBOL_CELLS)
    if kind == "ts":
        return str(T0 + rng.randrange(10**12)) if good else rng.choice(TS_CELLS)
    if kind in ("price", "bid", "ask"):
        return f"{rng.uniform(1, 500):.2f}" if good else rng.choice(PRICE_CELLS)
    if kind in ("size", "bid_size", "ask_size"):
        return str(rng.randrange(1, 1000)) if good else rng.choice(SIZE_CELLS)
    return "XNAS" if good else rng.choice(TEXT_CELLS)


def tick_file(path, header: str, rows: int, odd: list[tuple[int, int]], seed: int, crlf: bool) -> None:
    """``rows`` good rows of ``header``'s columns with odd rows put in at ``odd`` (position, kind)."""
    rng = random.Random(seed)
    names = header.split(",")
    lines = [",".join(cell(name, rng, True) for name in names).encode() for _ in range(rows)]
    for position, kind in sorted(odd, reverse=True):
        if kind < len(ODD_LINES):
            line = ODD_LINES[kind].encode()
        elif kind < len(ODD_LINES) + len(ODD_BYTES):
            line = ODD_BYTES[kind - len(ODD_LINES)]
        else:
            line = ",".join(cell(name, rng, rng.random() < 0.7) for name in names).encode()
        lines.insert(position % (rows + 1), line)
    ending = b"\r\n" if crlf else b"\n"
    data = header.encode() + ending + ending.join(lines) + ending
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as out:
            out.write(data)
    else:
        path.write_bytes(data)


def outcome(path, fast: bool, **params) -> tuple[list, list, str | None]:
    """The ticks (as item lists, so field order counts), the rows set aside and any error."""
    set_aside: list[tuple[str, str]] = []
    ticks: list = []
    try:
        for tick in read_ticks(str(path), set_aside=lambda *row: set_aside.append(row), fast=fast, **params):
            ticks.append([(name, value, type(value)) for name, value in tick.items()])
    except JobError as exc:
        return ticks, set_aside, str(exc)
    return ticks, set_aside, None


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 2 KiB, halved down to 256 bytes, so that small files have many of them."""
    monkeypatch.setattr(tick_blocks, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(tick_blocks, "SMALLEST_SPLIT", 256)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(HEADERS),
    rows=st.integers(0, 300),
    odd=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), max_size=12),
    seed=st.integers(0, 2**32),
    crlf=st.booleans(),
    gz=st.booleans(),
    wanted=st.sampled_from([None, ("AAA",), ("BBB", "Ünï")]),
)
def test_both_readings_agree_on_files_with_bad_rows(
    tmp_path_factory, small_blocks, header, rows, odd, seed, crlf, gz, wanted
):
    path = tmp_path_factory.mktemp("ticks") / ("t.csv.gz" if gz else "t.csv")
    tick_file(path, header, rows, odd, seed, crlf)
    assert outcome(path, True, symbols=wanted) == outcome(path, False, symbols=wanted)


@pytest.fixture
def row_read_lines(monkeypatch) -> list[int]:
    """The lines the row reader reads (one entry per call, 0 for a call that met the end)."""
    read: list[int] = []
    original = tick_blocks.RowReader.read

    def counting(self, lines, rows=None):
        before = lines.number
        outcome = original(self, lines, rows)
        read.append(lines.number - before)
        return outcome

    monkeypatch.setattr(tick_blocks.RowReader, "read", counting)
    return read


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_a_clean_file_is_read_by_pyarrow_and_a_bad_row_costs_only_its_neighbourhood(
    tmp_path, small_blocks, row_read_lines, name
):
    path = tmp_path / name
    tick_file(path, HEADERS[2], 2000, [(1500, len(ODD_LINES))], seed=1, crlf=False)
    fast = outcome(path, True)
    assert 1 <= sum(row_read_lines) <= 10  # the lines of one small block around the odd row
    assert fast == outcome(path, False)
    assert len(fast[0]) >= 2000


def test_ticks_past_a_truncated_gzip_stream_stop_at_the_same_line(tmp_path):
    path = tmp_path / "t.csv.gz"
    tick_file(path, HEADERS[0], 20_000, [], seed=2, crlf=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    fast, slow = outcome(path, True), outcome(path, False)
    assert fast == slow
    assert fast[2] is not None and "unreadable data" in fast[2]
    assert fast[2].startswith(f"{path}:{len(fast[0]) + 2}:")


@pytest.mark.parametrize("max_line_bytes", [64, 300])
def test_a_line_over_max_line_bytes_stops_both_at_the_same_line(tmp_path, small_blocks, max_line_bytes):
    path = tmp_path / "t.csv"
    lines = [f"AAA,{T0 + i},1.5,{i}" for i in range(400)]
    lines[250] = "AAA," + "9" * 400 + ",1.5,1"
    path.write_text("symbol,ts,price,size\n" + "\n".join(lines) + "\n", encoding="utf-8")
    fast, slow = outcome(path, True, max_line_bytes=max_line_bytes), outcome(
        path, False, max_line_bytes=max_line_bytes
    )
    assert fast == slow
    assert (
        fast[2]
        == f"{path}:252: line longer than {max_line_bytes} bytes (max_line_bytes); is this a CSV file of ticks?"
    )


def test_seconds_before_the_first_tick_stop_both_and_after_it_are_set_aside(tmp_path, small_blocks):
    path = tmp_path / "t.csv"
    good = [f"AAA,{T0 + i},1.5,{i}" for i in range(300)]
    path.write_text("symbol,ts,price,size\n" + "\n".join(good + ["AAA,1700000000,1.5,1"]) + "\n")
    fast = outcome(path, True)
    assert fast == outcome(path, False)
    assert fast[1] == [
        (
            "ts out of range",
            f"{path}:302: ts 1700000000 is outside ts_range 1990-01-01..2100-01-01; it looks like seconds since the epoch, and ts must be integer nanoseconds",
        )
    ]
    path.write_text("symbol,ts,price,size\nAAA,1700000000,1.5,1\n" + "\n".join(good) + "\n")
    fast = outcome(path, True)
    assert fast == outcome(path, False)
    assert fast[2] == (
        f"{path}:2: ts 1700000000 looks like seconds since the epoch; "
        "ts must be integer nanoseconds (or ISO-8601 with an offset)"
    )


def test_the_source_counts_the_same_set_aside_rows_with_both_readings(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    tick_file(path, HEADERS[2], 5000, [(i * 97, i % 20) for i in range(60)], seed=3, crlf=False)

    def replay() -> tuple[list[dict], dict[str, int]]:
        source = ReplaySource("ticks", path=str(path), batch_size=700)

        async def collect() -> list[dict]:
            return [tick async for batch in source.batches() for tick in batch]

        return asyncio.run(collect()), dict(source.stats.set_aside)

    fast = replay()
    monkeypatch.setattr(replay_module, "FAST_READER", False)
    slow = replay()
    assert fast == slow
    assert sum(fast[1].values()) >= 20 and len(fast[0]) >= 5000


def test_iso_timestamps_float_sizes_empty_fields_and_crlf_are_read_by_pyarrow(
    tmp_path, small_blocks, row_read_lines
):
    path = tmp_path / "t.csv"
    rows = [
        f"AAA,2024-03-15T09:30:{i % 60:02d}.{i:06d}-04:00,1{i % 7}.25,{i % 5}.5,,10.5,,{i},{'XNAS' if i % 3 else ''}"
        for i in range(300)
    ]
    header = "symbol,ts,price,size,bid,ask,bid_size,ask_size,exchange"
    path.write_bytes((header + "\r\n" + "\r\n".join(rows) + "\r\n").encode())
    fast = outcome(path, True)
    assert sum(row_read_lines) == 0
    assert fast == outcome(path, False)
    assert [name for name, _value, _type in fast[0][1]] == [
        "symbol",
        "ts",
        "price",
        "size",
        "ask",
        "ask_size",
        "exchange",
    ]


def test_a_file_the_fast_reader_takes_nowhere_costs_it_one_try_per_block(tmp_path, small_blocks, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("symbol,ts,price,size\n" + "".join(f'"AAA",{T0 + i},1.5,{i}\n' for i in range(3000)))
    tries: list[int] = []  # per block read: how often the fast reader was tried on it
    original, read_block = replay_module.ArrowBlocks.__call__, Lines.read_block

    def tried(self, *args):
        tries[-1] += 1
        return original(self, *args)

    monkeypatch.setattr(replay_module.ArrowBlocks, "__call__", tried)
    monkeypatch.setattr(Lines, "read_block", lambda self, size: tries.append(0) or read_block(self, size))
    fast = outcome(path, True)
    tried_blocks = [count for count in tries if count]
    assert tried_blocks[0] > 1 and len(tried_blocks) > 20  # the first block is halved, then
    assert set(tried_blocks[1:]) == {1}  # each block is tried once, whole
    assert fast == outcome(path, False) and len(fast[0]) == 3000
