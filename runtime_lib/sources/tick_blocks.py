"""Read a tick file block by block: fast where a block is plainly ticks, row by row elsewhere.

The file is taken in blocks of whole lines (:meth:`.lines.Lines.read_block`). A fast reader
(:class:`.arrow_block.ArrowBlocks`, when pyarrow is installed) either turns a whole block into
exactly the ticks that :class:`.row_reader.RowReader` would give, or declines it. A declined
block is halved, down to :data:`SMALLEST_SPLIT` bytes, and what is still declined is read row
by row, so a bad row costs the fast reader only the lines around it. Row-by-row reading also
takes each line that does not arrive whole in a block (a line longer than a block, the last
line without an ending, a read that failed), so every set-aside reason, error and line number
is that of the row-by-row reading.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Protocol

from .lines import Lines
from .row_reader import RowReader

BLOCK_BYTES = 1 << 20
"""About how much of the file one block holds (1 MiB, some 30,000 short ticks)."""
SMALLEST_SPLIT = 1 << 13
"""A declined block at most this long (8 KiB) is read row by row rather than halved again."""


class TickChunk(Protocol):
    """Ticks in file order: a list, or columns that give a list of ticks for a slice (and when iterated)."""

    def __len__(self) -> int: ...

    def __getitem__(self, part: slice) -> list[dict]: ...


FastBlocks = Callable[[bytes, int], "TickChunk | None"]


def tick_chunks(lines: Lines, rows: RowReader, fast: FastBlocks | None) -> Iterator[TickChunk]:
    """Yield the ticks after the header of ``lines``, a chunk per block or part of a block (never
    an empty one).

    ``fast(block, lines)`` returns the ticks of a block of ``lines`` whole lines, or None to
    decline it; without ``fast`` every block is read row by row. A declined block is halved
    only when the fast reader took the block before it, or some part of it: where it takes
    nothing (a file whose every row is quoted, say), each block costs it a single try.
    """
    blocks = _Blocks(lines, rows, fast)
    while True:
        block = lines.read_block(BLOCK_BYTES)
        if block:
            yield from blocks.chunks(block)
            continue
        ticks, ended = rows.read(lines, 1)
        if ended:
            return
        if ticks:
            yield ticks


class _Blocks:
    """The ticks of blocks of whole lines, each block the lines after ``lines.number``."""

    def __init__(self, lines: Lines, rows: RowReader, fast: FastBlocks | None) -> None:
        self.lines = lines
        self.rows = rows
        self.fast = fast
        self.halve = True  # whether the fast reader took (part of) the last block

    def chunks(self, block: bytes) -> Iterator[TickChunk]:
        """The ticks of ``block`` in chunks; counts its lines in ``lines.number``."""
        if self.fast is None:
            parts = self._rows(block)
        else:
            halve, self.halve = self.halve, False
            parts = self._part(block, halve)
        return (ticks for ticks in parts if len(ticks))

    def _part(self, block: bytes, halve: bool) -> Iterator[TickChunk]:
        """The ticks of ``block`` (or of a part of a block), fast where the fast reader takes them."""
        count = block.count(b"\n")
        ticks = self.fast(block, count)
        if ticks is not None:
            self.halve = True
            self.lines.number += count
            self.rows.seen_tick = self.rows.seen_tick or getattr(ticks, "ticks_read", len(ticks)) > 0
            yield ticks
            return
        if halve and len(block) > SMALLEST_SPLIT:
            middle = block.rfind(b"\n", 0, len(block) // 2) + 1 or block.find(b"\n") + 1
            if middle < len(block):
                yield from self._part(block[:middle], halve)
                yield from self._part(block[middle:], halve)
                return
        yield from self._rows(block)

    def _rows(self, block: bytes) -> Iterator[list[dict]]:
        """The ticks of ``block`` read row by row."""
        lines = self.lines
        part = Lines(lines.path, lines.max_bytes, stream=io.BytesIO(block), number=lines.number)
        ticks, _ended = self.rows.read(part)
        lines.number = part.number
        yield ticks
