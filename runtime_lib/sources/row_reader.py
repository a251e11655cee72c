"""Read rows of a tick file the standard-library way: :mod:`csv` over :class:`.lines.Lines`.

This is the reference reading of a replay. Every row goes through :func:`.tick_rows.row_parser`;
a row that is not a tick is handed to ``set_aside(reason, "path:line: ...")`` and skipped. The
fast reader of :mod:`.arrow_block` takes whole blocks of lines only when this reading would
accept every row of them unchanged, and hands every other block back here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable

from ..errors import JobError
from .lines import Lines, NotText, OpenQuote
from .shard_share import ShardShare
from .tick_rows import Layout, Rejected, layout, row_parser

SetAside = Callable[[str, str], None]


def read_header(lines: Lines) -> Layout:
    """The :class:`Layout` of the header (line 1), or a :class:`JobError` at ``path:1``."""
    try:
        header = next(csv.reader(lines), None)
    except (NotText, OpenQuote, csv.Error):
        raise JobError(f"{lines.path}:1: the header is not a line of UTF-8 CSV") from None
    return layout(lines.path, header)


class RowReader:
    """Turn rows into ticks and set aside the rows that are not ticks, across the whole file.

    Only ticks of ``wanted`` symbols are kept when given (other rows are skipped unchecked,
    unless their field count is wrong). Integer timestamps in seconds, milliseconds or
    microseconds stop the replay with a :class:`JobError` until the first tick has been read
    (``seen_tick``), and are set aside after it. With a ``share``, every row is checked but only
    the shard's ticks are kept and only its rows set aside (see :mod:`.shard_share`).
    """

    def __init__(
        self,
        where: Layout,
        ts_range: tuple[int, int],
        wanted: frozenset[str] | None,
        set_aside: SetAside,
        share: ShardShare | None = None,
    ) -> None:
        self.where = where
        self.wanted = wanted
        self.share = share
        self.set_aside = set_aside
        self.seen_tick = False
        self._parse = row_parser(where, ts_range)

    def read(self, lines: Lines, rows: int | None = None) -> tuple[list[dict], bool]:
        """The ticks of the next ``rows`` rows of ``lines`` (all of them when None), and whether
        ``lines`` has ended. Each row is one line."""
        path, set_aside, parse, share = lines.path, self.set_aside, self._parse, self.share
        unowned = set_aside if share is None or share.sets_aside_unowned else _ignore  # rows with no symbol
        width, i_symbol, i_ts, wanted = self.where.width, self.where.symbol, self.where.ts, self.wanted
        reader = csv.reader(lines)
        ticks: list[dict] = []
        left = -1 if rows is None else rows
        while left:
            left -= 1
            lines.expect_record()
            try:
                row = next(reader)
            except StopIteration:
                return ticks, True
            except NotText:
                unowned("not UTF-8", f"{path}:{lines.number}: the line is not UTF-8 text")
                continue
            except OpenQuote:
                unowned("open quote", f"{path}:{lines.number}: a quoted field is not closed on its line")
                continue
            except csv.Error as exc:
                unowned("unreadable row", f"{path}:{lines.number}: {exc}")
                continue
            if not row or (wanted is not None and len(row) == width and row[i_symbol] not in wanted):
                continue
            try:
                tick = parse(row, lines.number)
            except Rejected as rejected:
                if rejected.unit and not self.seen_tick:
                    raise JobError(_unit_message(path, lines.number, rejected, row[i_ts])) from None
                if share is None or share.owns(row[i_symbol] if len(row) == width else None):
                    set_aside(rejected.reason, rejected.detail)
                continue
            self.seen_tick = True
            if share is None or share.owns(tick["symbol"]):
                ticks.append(tick)
        return ticks, False


def _ignore(reason: str, detail: str) -> None:
    """Set aside nothing: another shard sets the row aside."""


def _unit_message(path: str, line: int, rejected: Rejected, text: str) -> str:
    return (
        f"{path}:{line}: ts {text.strip()} looks like {rejected.unit} since the epoch; "
        f"ts must be integer nanoseconds (or ISO-8601 with an offset)"
    )
