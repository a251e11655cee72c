"""Replay ticks from a CSV file (optionally gzip-compressed), as fast as possible or paced.

The file is opened, read and parsed on a thread of the source's own, a batch at a time, so a
slow disk or a FIFO with no writer never blocks the event loop (a stop request still gets
through). What a row must hold, and the reasons a row is set aside, are in
:mod:`.tick_rows`; :mod:`.lines` bounds the length of a line.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from ..call_thread import CallThread
from ..errors import JobError
from ..stats import LOGGED_PER_REASON
from ..timeutil import DEFAULT_TS_RANGE_NS, MAX_TIMESTAMP_NS
from .base import DEFAULT_BATCH_SIZE, Source, check_batch_size
from .lines import DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES, Lines, NotText, OpenQuote
from .pacing import check_speed, tick_batches
from .tick_rows import Rejected, layout, row_parser

SetAside = Callable[[str, str], None]


def read_ticks(
    path: str,
    symbols: Iterable[str] | None = None,
    *,
    ts_range: tuple[int, int] = DEFAULT_TS_RANGE_NS,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    set_aside: SetAside | None = None,
) -> Iterator[dict]:
    """Yield the ticks of a CSV (or ``.gz`` CSV) file in file order.

    Only ``symbols`` are kept when given. A row that is not a tick (see :mod:`.tick_rows`) is
    handed to ``set_aside(reason, "path:line: ...")`` and skipped; without ``set_aside`` it
    raises :class:`JobError` with that detail. A file problem always raises :class:`JobError`
    as ``path:line: message`` (the header is line 1): no such file, no header or a required
    column missing, a line longer than ``max_line_bytes``, unreadable (corrupt gzip) data,
    and integer timestamps in seconds, milliseconds or microseconds before the first tick.
    """
    if isinstance(symbols, str):
        symbols = (symbols,)
    wanted = None if symbols is None else frozenset(symbols)
    path = str(path)
    lines = Lines(path, max_line_bytes)
    try:
        yield from _ticks(lines, wanted, ts_range, set_aside or _refuse)
    finally:
        lines.close()


def _refuse(reason: str, detail: str) -> None:
    raise JobError(detail)


def _ticks(lines: Lines, wanted: frozenset[str] | None, ts_range: tuple[int, int], set_aside: SetAside):
    path = lines.path
    reader = csv.reader(lines)
    try:
        where = layout(path, next(reader, None))
    except (NotText, OpenQuote, csv.Error):
        raise JobError(f"{path}:1: the header is not a line of UTF-8 CSV") from None
    width, i_symbol, i_ts, parse = where.width, where.symbol, where.ts, row_parser(where, ts_range)
    seen_tick = False
    while True:
        lines.expect_record()
        try:
            row = next(reader)
        except StopIteration:
            return
        except NotText:
            set_aside("not UTF-8", f"{path}:{lines.number}: the line is not UTF-8 text")
            continue
        except OpenQuote:
            set_aside("open quote", f"{path}:{lines.number}: a quoted field is not closed on its line")
            continue
        except csv.Error as exc:
            set_aside("unreadable row", f"{path}:{lines.number}: {exc}")
            continue
        if not row or (wanted is not None and len(row) == width and row[i_symbol] not in wanted):
            continue
        try:
            record = parse(row, lines.number)
        except Rejected as rejected:
            if rejected.unit and not seen_tick:
                raise JobError(_unit_message(path, lines.number, rejected, row[i_ts])) from None
            set_aside(rejected.reason, rejected.detail)
            continue
        seen_tick = True
        yield record


def _unit_message(path: str, line: int, rejected: Rejected, text: str) -> str:
    return (
        f"{path}:{line}: ts {text.strip()} looks like {rejected.unit} since the epoch; "
        f"ts must be integer nanoseconds (or ISO-8601 with an offset)"
    )


class ReplaySource(Source):
    """Replay a tick file; ``speed`` 0 runs unpaced, ``speed`` s > 0 runs s times real time.

    Relative paths resolve against the current working directory. Rows that are not ticks
    are set aside on :attr:`stats` (see :func:`read_ticks`); the file is read on a thread.
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
        self._thread: CallThread | None = None
        self._ticks: Iterator[dict] | None = None
        self._held: list[tuple[str, str]] = []
        self._extra: dict[str, int] = {}

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the file's ticks in file order, in lists of up to ``batch_size``."""
        self._thread = CallThread(f"mdp-replay-{self.node_id}")
        try:
            async for batch in tick_batches(self._parsed(), self.speed, self.batch_size):
                yield batch
        finally:
            await self.close()

    async def _parsed(self) -> AsyncIterator[list[dict]]:
        """Batches parsed on the thread, with their set-aside rows counted here, on the loop."""
        while True:
            ticks, held, extra, ended = await self._thread.call(self._next_batch)
            for reason, detail in held:
                self.stats.set_aside_one(reason, detail)
            for reason, count in extra.items():  # past the logged ones: counted only
                self.stats.set_aside[reason] = self.stats.set_aside.get(reason, 0) + count
            yield ticks
            if ended:
                return

    def _next_batch(self) -> tuple[list[dict], list[tuple[str, str]], dict[str, int], bool]:
        """On the thread: up to ``batch_size`` ticks, and the rows set aside meanwhile."""
        if self._ticks is None:
            self._ticks = read_ticks(
                self.path,
                self.symbols,
                ts_range=self.ts_range,
                max_line_bytes=self.max_line_bytes,
                set_aside=self._hold,
            )
        ticks = []
        for record in self._ticks:
            ticks.append(record)
            if len(ticks) >= self.batch_size:
                break
        held, self._held = self._held, []
        extra, self._extra = self._extra, {}
        return ticks, held, extra, len(ticks) < self.batch_size

    def _hold(self, reason: str, detail: str) -> None:
        """On the thread: keep a set-aside row for the loop (its detail only while it may be logged)."""
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
        ticks, self._ticks = self._ticks, None
        if ticks is not None:
            ticks.close()
