"""Reading a tick file in blocks of whole lines: blocks and line-by-line reading share the bytes
read ahead, so they see the same lines; a FIFO hands over what has arrived without waiting for a
whole block."""

from __future__ import annotations

import asyncio
import io
import os
import threading

from runtime_lib.errors import JobError
from runtime_lib.sources.lines import Lines
from runtime_lib.sources.replay import ReplaySource

T0 = 1_710_509_400_000_000_000


def lines_of(data: bytes, max_bytes: int = 20_000) -> Lines:
    """:class:`Lines` over ``data``."""
    return Lines("t.csv", max_bytes, stream=io.BytesIO(data))


def test_blocks_hold_whole_lines_and_the_rest_is_read_line_by_line():
    lines = lines_of(b"a,1\nb,2\nccc")
    assert lines.read_block(100) == b"a,1\nb,2\n"
    lines.number += 2
    assert lines.read_block(100) == b""  # the last line has no ending: it is read line by line
    assert next(lines) == "ccc" and lines.number == 3


def test_a_line_begun_in_a_block_read_is_finished_line_by_line_with_its_number():
    lines = lines_of(b"a,1\n" + b"x" * 9000 + b"\nb,2\n")
    assert lines.read_block(100) == b"a,1\n"  # what one read brought: the long line is not whole
    lines.number = 1
    assert lines.read_block(100) == b""
    assert next(lines) == "x" * 9000 + "\n" and lines.number == 2
    assert lines.read_block(100) == b"b,2\n"


def test_a_line_too_long_is_refused_at_its_number_even_when_read_ahead():
    lines = lines_of(b"a,1\n" + b"x" * 9000 + b"\n", max_bytes=100)
    assert lines.read_block(100) == b"a,1\n"
    lines.number = 1
    try:
        next(lines)
    except JobError as exc:
        assert (
            str(exc) == "t.csv:2: line longer than 100 bytes (max_line_bytes); is this a CSV file of ticks?"
        )
    else:
        raise AssertionError("a line of 9000 bytes was read")


def test_a_fifo_hands_over_the_lines_that_have_arrived(tmp_path):
    fifo = tmp_path / "ticks.fifo"
    os.mkfifo(fifo)
    release = threading.Event()

    def write() -> None:
        with open(fifo, "w", encoding="utf-8") as out:
            out.write("symbol,ts,price,size\n" + "".join(f"AAA,{T0 + i},1.5,{i}\n" for i in range(20)))
            out.flush()
            release.wait(10)  # the writer keeps the FIFO open until the first batch has come

    writer = threading.Thread(target=write)
    writer.start()
    source = ReplaySource("ticks", path=str(fifo), batch_size=10)

    async def first_batch() -> list[dict]:
        stream = source.batches()
        try:
            return await asyncio.wait_for(stream.__anext__(), 5)
        finally:
            release.set()
            await stream.aclose()

    try:
        batch = asyncio.run(first_batch())
    finally:
        release.set()
        writer.join()
    assert [tick["size"] for tick in batch] == list(range(10))
