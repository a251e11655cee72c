"""Replay ticks from a CSV file (optionally gzip-compressed), as fast as possible or paced."""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import IO

from ..errors import JobError
from ..timeutil import parse_timestamp_ns
from .base import DEFAULT_BATCH_SIZE, Source
from .pacing import tick_batches

REQUIRED_COLUMNS = ("symbol", "ts", "price", "size")
OPTIONAL_COLUMNS = ("bid", "ask", "bid_size", "ask_size", "exchange")
_PRICES = ("price", "bid", "ask")
_INTEGER = re.compile(r"^[+-]?\d+$")


def read_ticks(path: str, symbols: Iterable[str] | None = None) -> Iterator[dict]:
    """Yield the ticks of a CSV (or ``.gz`` CSV) file in file order.

    Only ``symbols`` are kept when given. A missing file, a missing required column or a bad
    cell raises :class:`JobError` as ``path:line: message`` (the header is line 1).
    """
    if isinstance(symbols, str):
        symbols = (symbols,)
    wanted = None if symbols is None else frozenset(symbols)
    path = str(path)
    with _open(path) as stream:
        reader = csv.reader(stream)
        try:
            yield from _parse_rows(path, reader, wanted)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise JobError(f"{path}:{reader.line_num + 1}: unreadable data: {exc}") from None


def _open(path: str) -> IO[str]:
    """Open ``path`` as text, through gzip when it ends in ``.gz``."""
    try:
        if path.lower().endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8", newline="")
        return open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise JobError(f"{path}: no such file") from None
    except OSError as exc:
        raise JobError(f"{path}: cannot open: {exc.strerror or exc}") from None


def _parse_rows(path: str, reader, wanted: frozenset[str] | None) -> Iterator[dict]:
    """Turn CSV rows into tick dicts; ``reader.line_num`` locates each error."""
    header = next(reader, None)
    if header is None:
        raise JobError(f"{path}:1: empty file; expected a header with {', '.join(REQUIRED_COLUMNS)}")
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise JobError(
            f"{path}:1: missing required column {', '.join(repr(m) for m in missing)} "
            f"(header has: {', '.join(header)})"
        )
    index = {name: header.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in header}
    i_symbol, i_ts, i_price, i_size = (index[name] for name in REQUIRED_COLUMNS)
    optional = [(name, index[name]) for name in OPTIONAL_COLUMNS if name in index]
    width = len(header)
    for row in reader:
        if not row:
            continue
        if len(row) != width:
            raise JobError(f"{path}:{reader.line_num}: expected {width} fields, found {len(row)}")
        symbol = row[i_symbol]
        if wanted is not None and symbol not in wanted:
            continue
        line = reader.line_num
        if not symbol:
            raise JobError(f"{path}:{line}: empty 'symbol'")
        tick = {
            "symbol": symbol,
            "ts": _timestamp(path, line, row[i_ts]),
            "price": _number(path, line, "price", row[i_price]),
            "size": _number(path, line, "size", row[i_size]),
        }
        for name, i in optional:
            text = row[i]
            if text:
                tick[name] = text if name == "exchange" else _number(path, line, name, text)
        yield tick


def _timestamp(path: str, line: int, text: str) -> int:
    """Parse a ``ts`` cell into epoch nanoseconds or raise a located :class:`JobError`."""
    if not text:
        raise JobError(f"{path}:{line}: empty 'ts'")
    try:
        return parse_timestamp_ns(text)
    except ValueError as exc:
        raise JobError(f"{path}:{line}: bad 'ts' {text!r}: {exc}") from None


def _number(path: str, line: int, name: str, text: str) -> int | float:
    """Parse a numeric cell: prices are floats, sizes ints when written as whole numbers."""
    text = text.strip()
    if not text:
        raise JobError(f"{path}:{line}: empty {name!r}")
    if name not in _PRICES and _INTEGER.match(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        raise JobError(f"{path}:{line}: {name!r} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise JobError(f"{path}:{line}: {name!r} is not a finite number: {text!r}")
    return value


class ReplaySource(Source):
    """Replay a tick file; ``speed`` 0 runs unpaced, ``speed`` s > 0 runs s times real time.

    Relative paths resolve against the current working directory.
    """

    def __init__(
        self,
        node_id: str,
        *,
        path: str,
        symbols: tuple[str, ...] | None = None,
        speed: float = 0.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(node_id)
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = str(path)
        self.symbols = None if symbols is None else tuple(symbols)
        self.speed = speed
        self.batch_size = batch_size
        self._ticks: Iterator[dict] | None = None

    async def batches(self) -> AsyncIterator[list[dict]]:
        """Yield the file's ticks in file order, in lists of up to ``batch_size``."""
        self._ticks = ticks = read_ticks(self.path, self.symbols)
        try:
            async for batch in tick_batches(ticks, self.speed, self.batch_size):
                yield batch
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the file if a replay is still open."""
        if self._ticks is not None:
            self._ticks.close()
            self._ticks = None
