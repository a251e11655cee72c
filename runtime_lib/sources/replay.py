"""Replay ticks from a CSV file (optionally gzip-compressed) or Parquet, as fast as possible or paced.

The file is opened, read and parsed on a thread of the source's own, a block at a time, so a
slow disk or a FIFO with no writer never blocks the event loop (a stop request still gets
through), and the next block is read while the pipeline works on the last one. What a row
must hold, and the reasons a row is set aside, are in :mod:`.tick_rows`; :mod:`.lines` bounds
the length of a line. With pyarrow installed, blocks that are plainly ticks are read by
:mod:`.arrow_block` and every other block row by row (:mod:`.tick_blocks`): the ticks, the rows
set aside and the errors are the same either way. The dicts of a batch read by pyarrow are
made on the event loop as the batch is handed on, where the pipeline then reads them.

A path ending in ``.parquet``, or naming a folder, is read as Parquet (:mod:`.parquet_input`), in
record batches, into the same ticks.

**Resuming.** :meth:`ReplaySource.position` counts the ticks handed on and the rows set aside
and counted so far, with the identity of the input (:mod:`.input_identity`). A fresh source
told :meth:`ReplaySource.resume_at` that position refuses an input that changed, then reads the
input from its start again, on its thread, drops the ticks already handed on before they are
made into dicts, and does not count again the rows set aside before them: the ticks after the
position come exactly as they would have, whatever the batch size, and so do the counters of
the rows set aside (kept with the checkpoint by whoever restores the source's counters). With a
``speed``, pacing starts again at the first tick after the position. A FIFO cannot be resumed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from ..call_thread import CallThread
from ..errors import JobError
from ..stats import LOGGED_PER_REASON
from ..timeutil import DEFAULT_TS_RANGE_NS, MAX_TIMESTAMP_NS
from .base import DEFAULT_BATCH_SIZE, Source, check_batch_size
from .input_identity import file_identity, identity_change, input_identity
from .lines import DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES, Lines
from .pacing import tick_batches
from .parquet_input import ParquetTicks, is_parquet_input
from .row_reader import RowReader, SetAside, read_header
from .shard_share import ShardShare
from .source_bounds import check_speed
from .tick_blocks import TickChunk, tick_chunks

try:
    from .arrow_block import ArrowBlocks
except ImportError:  # pyarrow is optional: without it every block is read row by row
    ArrowBlocks = None

FAST_READER = ArrowBlocks is not None
"""Whether blocks that are plainly ticks are read through pyarrow (installed, version 15 or later)."""


def read_ticks(
    path: str,
    symbols: Iterable[str] | None = None,
    *,
    ts_range: tuple[int, int] = DEFAULT_TS_RANGE_NS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    set_aside: SetAside | None = None,
    fast: bool | None = None,
) -> Iterator[dict]:
    """Yield the ticks of a CSV (or ``.gz`` CSV) file, or of Parquet (a ``.parquet`` file or a folder
    of them, see :mod:`.parquet_input`), in file order.

    Only ``symbols`` are kept when given. A row that is not a tick (see :mod:`.tick_rows`) is
    handed to ``set_aside(reason, "path:line: ...")`` and skipped; without ``set_aside`` it
    raises :class:`JobError` with that detail. A file problem always raises :class:`JobError`
    as ``path:line: message`` (the header is line 1): no such file, no header or a required
    column missing, a line longer than ``max_line_bytes``, unreadable (corrupt gzip) data,
    and integer timestamps in seconds, milliseconds or microseconds before the first tick.
    ``fast`` False reads every row the standard-library way, True through pyarrow where it can
    (the result is the same); None (the default) is :data:`FAST_READER`.
    """
    return itertools.chain.from_iterable(
        read_tick_chunks(
            path, symbols, ts_range=ts_range, max_line_bytes=max_line_bytes, set_aside=set_aside, fast=fast
        )
    )


def read_tick_chunks(
    path: str,
    symbols: Iterable[str] | None = None,
    *,
    ts_range: tuple[int, int] = DEFAULT_TS_RANGE_NS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    set_aside: SetAside | None = None,
    fast: bool | None = None,
    opened: Callable[[int], None] | None = None,
    share: ShardShare | None = None,
) -> Iterator[TickChunk]:
    """The ticks of :func:`read_ticks` in chunks, one per block of the file (or part of one)
    that holds any: lists, or columns that give the list of ticks of a slice (``chunk[:]``).

    ``opened(fd)`` is called with the descriptor of the file read (for a ``.gz`` file, of the
    compressed file) once it is open, before its header is read; the file is closed when the
    chunks end. Parquet is read by :class:`.parquet_input.ParquetTicks` (``max_line_bytes``,
    ``fast`` and ``opened`` do not apply to it). A ``share`` keeps a shard's ticks only
    (:mod:`.shard_share`)."""
    if isinstance(symbols, str):
        symbols = (symbols,)
    wanted = None if symbols is None else frozenset(symbols)
    if is_parquet_input(str(path)):
        yield from ParquetTicks(str(path), wanted, ts_range, set_aside or _refuse, share).chunks()
        return
    fast = FAST_READER if fast is None else fast
    if fast and ArrowBlocks is None:
        raise JobError("the fast replay needs pyarrow 15 or later (pip install pyarrow)")
    lines = Lines(str(path), max_line_bytes)
    try:
        if opened is not None:
            opened(lines.fileno())
        where = read_header(lines)
        rows = RowReader(where, ts_range, wanted, set_aside or _refuse, share)
        blocks = ArrowBlocks(where, ts_range, wanted, max_line_bytes, share) if fast else None
        yield from tick_chunks(lines, rows, blocks)
    finally:
        lines.close()


def _refuse(reason: str, detail: str) -> None:
    raise JobError(detail)


class ReplaySource(Source):
    """Replay a tick file; ``speed`` 0 runs unpaced, ``speed`` s > 0 runs s times real time.

    Relative paths resolve against the current working directory. Rows that are not ticks
    are set aside on :attr:`stats` (see :func:`read_ticks`); the file is read on a thread.
    ``share`` (shard, shards) keeps the ticks of that shard's symbols only (:mod:`.shard_share`).
    """

    node_type = "provider.replay"

    def __init__(
        self,
        node_id: str,
        *,
        path: str,
        symbols: tuple[str, ...] | None = None,
        speed: float = 0.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        ts_range: tuple[int, int] = DEFAULT_TS_RANGE_NS,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        share: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(node_id)
        low, high = ts_range
        if not 0 <= low < high <= MAX_TIMESTAMP_NS + 1:
            raise ValueError(f"ts_range must be two epoch-ns bounds, from before up to, got {ts_range}")
        if not 1 <= max_line_bytes <= MAX_LINE_BYTES:
            raise ValueError(f"max_line_bytes must be between 1 and {MAX_LINE_BYTES}, got {max_line_bytes}")
        self.path = str(path)
        self.symbols = None if symbols is None else tuple(symbols)
        self.speed = check_speed(speed)
        self.batch_size = check_batch_size(batch_size)
        self.ts_range = (low, high)
        self.max_line_bytes = max_line_bytes
        self.share = None if share is None else ShardShare(*share)
        self._thread: CallThread | None = None
        self._chunks: Iterator[TickChunk] | None = None
        self._rest: list[dict] = []  # ticks read but not yet handed on in a batch
        self._held: list[tuple[str, str]] = []
        self._extra: dict[str, int] = {}
        self._file: tuple[int, int] | None = None  # on the thread: the open file's descriptor and size
        self._parquet: ParquetTicks | None = None  # the reader of a Parquet input
        self._progress: tuple[int, int] | None = None  # what progress() returns, set on the loop
        self._handed_on = 0  # ticks handed on in batches, from the input's start (across a resume)
        self._counted = 0  # rows set aside and counted on stats, likewise
        self._skip_ticks = 0  # on the thread: ticks still to drop before the first batch (resume)
        self._skip_set_aside = 0  # on the thread: rows set aside before the position, not counted again
        self._identity: dict | None = None  # the input's identity, once it is open
        self._replayable = True  # False once the input turns out to be a FIFO

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the file's ticks in file order, in lists of up to ``batch_size``."""
        self._thread = CallThread(f"mdp-replay-{self.node_id}")
        try:
            async for batch in tick_batches(self._parsed(), self.speed, self.batch_size):
                self._handed_on += len(batch)
                yield batch
        finally:
            await self.close()

    async def _parsed(self) -> AsyncIterator[list[dict]]:
        """Batches parsed on the thread, with their set-aside rows counted here, on the loop.

        The thread reads the next block while the batches of the last one go down the pipeline.
        """
        ahead = asyncio.ensure_future(self._thread.call(self._next_batches))
        try:
            while True:
                batches, held, extra, ended, position = await ahead
                ahead = None if ended else asyncio.ensure_future(self._thread.call(self._next_batches))
                for reason, detail in held:
                    self.stats.set_aside_one(reason, detail)
                for reason, count in extra.items():  # past the logged ones: counted only
                    self.stats.set_aside[reason] = self.stats.set_aside.get(reason, 0) + count
                self._counted += len(held) + sum(extra.values())
                self._progress = position
                for chunk, start, stop in batches:
                    yield chunk[start:stop]
                if ended:
                    return
        finally:
            if ahead is not None:
                _abandon(ahead)

    def _next_batches(
        self,
    ) -> tuple[
        list[tuple[TickChunk, int, int]], list[tuple[str, str]], dict[str, int], bool, tuple[int, int] | None
    ]:
        """On the thread: the next full batches of ticks (and, at the end, the last partial
        one) as ``(chunk, start, stop)``, the rows set aside meanwhile, whether the file has
        ended, and how far the file has been read (see :meth:`progress`). The loop makes each
        batch, ``chunk[start:stop]``, as it hands it on."""
        if self._chunks is None and is_parquet_input(self.path):
            wanted = None if self.symbols is None else frozenset(self.symbols)
            self._parquet = ParquetTicks(self.path, wanted, self.ts_range, self._hold, self.share)
            self._identity = input_identity(self.path)
            self._chunks = self._parquet.chunks()
        if self._chunks is None:
            self._chunks = read_tick_chunks(
                self.path,
                self.symbols,
                ts_range=self.ts_range,
                max_line_bytes=self.max_line_bytes,
                set_aside=self._hold,
                opened=self._opened,
                share=self.share,
            )
        size, rest, batches, ended = self.batch_size, self._rest, [], False
        while not batches and not ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                ended = True
                if rest:
                    batches.append((rest, 0, len(rest)))
                rest = []
                continue
            taken = 0
            if self._skip_ticks:  # resuming: these ticks were handed on before the position
                if len(chunk) <= self._skip_ticks:
                    self._skip_ticks -= len(chunk)
                    continue
                taken, self._skip_ticks = self._skip_ticks, 0
            if rest:  # the last batch begun fills up first
                taken = size - len(rest)
                rest = rest + chunk[:taken]
                if len(rest) < size:
                    continue
                batches.append((rest, 0, size))
            whole = taken + (len(chunk) - taken) // size * size
            batches += [(chunk, start, start + size) for start in range(taken, whole, size)]
            rest = chunk[whole:]
        self._rest = rest
        held, self._held = self._held, []
        extra, self._extra = self._extra, {}
        return batches, held, extra, ended, self._read_so_far(ended)

    def _opened(self, fd: int) -> None:
        """On the thread: note the descriptor, size and identity of the file, when it is a regular file."""
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            self._file = (fd, info.st_size)
            self._progress = (0, info.st_size)
            self._identity = file_identity(self.path, fd)
        elif self.share is not None:  # each shard would read a different part of the stream
            raise JobError(
                f"{self.path}: not a regular file (a FIFO?): every shard reads the whole input, "
                "which a stream cannot give twice; run this job on one process"
            )
        else:
            self._replayable = False

    def _read_so_far(self, ended: bool) -> tuple[int, int] | None:
        """On the thread: (bytes read, size) of a regular file; None for a FIFO or before it opened.

        The file's own offset is asked for once per block read (a system call, no lock), and not
        once it has ended: the file is closed by then. For Parquet: (rows read, rows in its files).
        """
        if self._parquet is not None:
            return self._parquet.position()
        if self._file is None:
            return None
        fd, size = self._file
        return (size if ended else min(os.lseek(fd, 0, os.SEEK_CUR), size), size)

    def progress(self) -> tuple[int, int] | None:
        """(bytes of the file read, up to the end of the block whose ticks are being handed on,
        the file's size on disk), in compressed bytes for a ``.gz`` file; None before the file is
        open, and for a FIFO. The thread reading ahead moves it on a block (1 MiB) at a time.
        For Parquet: (rows read, up to the end of the record batch being handed on, the rows
        of all its files, from their footers)."""
        return self._progress

    def position(self) -> dict | None:
        """Where the replay stands just after the last batch handed on: ``{"records": ticks handed
        on, "set_aside": rows set aside and counted, "input": the input's identity}`` (``input`` is
        None before the input is open); None for a FIFO, whose data cannot be read again."""
        if not self._replayable:
            return None
        return {"records": self._handed_on, "set_aside": self._counted, "input": self._identity}

    def resume_at(self, position: dict) -> None:
        """Before :meth:`batches`: go on after ``position`` (see the module docstring); a
        :class:`JobError` when the input changed since it was taken."""
        try:
            records, set_aside, saved = position["records"], position["set_aside"], position["input"]
        except (TypeError, KeyError):
            raise JobError(
                f"provider {self.node_id!r}: not a position of a replay: {position!r:.200}"
            ) from None
        if saved is not None:
            change = identity_change(saved, input_identity(self.path))
            if change:
                raise JobError(
                    f"provider {self.node_id!r}: the input {self.path} changed since the checkpoint: "
                    f"{change}; a job resumes only on the input it read (start it afresh to read this one)"
                )
        self._handed_on = self._skip_ticks = records
        self._counted = self._skip_set_aside = set_aside

    def _hold(self, reason: str, detail: str) -> None:
        """On the thread: keep a set-aside row for the loop (its detail only while it may be logged).

        Rows set aside before a resumed position were counted before: they are dropped."""
        if self._skip_set_aside:
            self._skip_set_aside -= 1
            return
        logged = sum(1 for kept, _ in self._held if kept == reason)
        if logged < LOGGED_PER_REASON:
            self._held.append((reason, detail))
        else:
            self._extra[reason] = self._extra.get(reason, 0) + 1

    async def close(self) -> None:
        """Close the file (on the thread that reads it) and let the thread end; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.finish(self._close_file)

    def _close_file(self) -> None:
        """On the thread: close the file, if it was opened."""
        chunks, self._chunks = self._chunks, None
        if chunks is not None:
            chunks.close()


def _abandon(task: asyncio.Future) -> None:
    """Cancel a read ahead that is no longer wanted (its outcome, even an error, is dropped)."""
    if not task.cancel() and not task.cancelled():
        task.exception()
