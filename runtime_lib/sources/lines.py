"""The physical lines of a text file (plain or gzip), each bounded in length and decoded alone.

A CSV reader keeps a whole line in memory, so a file with no line breaks would be read whole
before anything could reject it. :class:`Lines` reads at most ``max_bytes`` (plus the line
ending) per line and stops the replay with a located error beyond that. It also tells its
reader about lines it will not hand over, so each can be set aside on its own: a line that is
not UTF-8 (:class:`NotText`), and a quoted field left open at the end of a line
(:class:`OpenQuote`: a tick is one line, and a stray quote would otherwise swallow the lines
after it).
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from typing import BinaryIO

from ..errors import JobError

DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB
MAX_LINE_BYTES = 1 << 30  # the most ``max_line_bytes`` may be set to: 1 GiB
_ENDINGS = b"\r\n"


class NotText(Exception):
    """The line :attr:`Lines.number` is not UTF-8; it was skipped."""


class OpenQuote(Exception):
    """The record that began at line :attr:`Lines.number` left a quoted field open at its end."""


class Lines:
    """Iterate the decoded lines of ``path`` (with their endings), for :func:`csv.reader`.

    ``number`` is the line last handed over (1 = the first line); a UTF-8 byte order mark on the
    first line is dropped. Call :meth:`expect_record` before each row is read: asking for a
    second line within one row raises :class:`OpenQuote` instead. Opening or reading failures
    raise :class:`~runtime_lib.errors.JobError` as ``path: ...`` or ``path:line: ...``.
    """

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.number = 0
        self._row_started = False
        self._stream = _open(path)

    def expect_record(self) -> None:
        """The next line asked for begins a new record."""
        self._row_started = False

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        if self._row_started:
            raise OpenQuote
        self._row_started = True
        raw = self._read()
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotText from None

    def _read(self) -> bytes:
        try:
            raw = self._stream.readline(self.max_bytes + len(_ENDINGS))
        except (OSError, EOFError, zlib.error) as exc:
            raise JobError(f"{self.path}:{self.number + 1}: unreadable data: {exc}") from None
        if len(raw) > self.max_bytes and len(raw.rstrip(_ENDINGS)) > self.max_bytes:
            raise JobError(
                f"{self.path}:{self.number + 1}: line longer than {self.max_bytes} bytes "
                f"(max_line_bytes); is this a CSV file of ticks?"
            )
        return raw

    def close(self) -> None:
        """Close the file."""
        self._stream.close()


def _open(path: str) -> BinaryIO:
    """Open ``path`` for reading bytes, through gzip when it ends in ``.gz``.

    A FIFO blocks here until a writer opens it, so call this off the event loop.
    """
    try:
        if path.lower().endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        raise JobError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise JobError(f"{path}: is a directory, not a file of ticks") from None
    except OSError as exc:
        raise JobError(f"{path}: cannot open: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise JobError(f"{path!r}: cannot open: {exc}") from None
