"""The physical lines of a text file (plain or gzip), each bounded in length and decoded alone.

A CSV reader keeps a whole line in memory, so a file with no line breaks would be read whole
before anything could reject it. :class:`Lines` reads at most ``max_bytes`` (plus the line
ending) per line and stops the replay with a located error beyond that. It also tells its
reader about lines it will not hand over, so each can be set aside on its own: a line that is
not UTF-8 (:class:`NotText`), and a quoted field left open at the end of a line
(:class:`OpenQuote`: a tick is one line, and a stray quote would otherwise swallow the lines
after it).

A fast reader may take whole lines in blocks instead (:meth:`Lines.read_block`). Gzip data is
decompressed in the same 8 KiB pieces either way, and a failure met while reading ahead is
raised only where line-by-line reading would have met it, so both ways see the same lines, the
same errors and the same line numbers.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import stat
import zlib
from typing import BinaryIO

from ..errors import JobError

DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB
MAX_LINE_BYTES = 1 << 30  # the most ``max_line_bytes`` may be set to: 1 GiB
READ_BYTES = io.DEFAULT_BUFFER_SIZE  # what one read of gzip data asks for, as line-by-line reading does
_ENDINGS = b"\r\n"
_READ_ERRORS = (OSError, EOFError, zlib.error)


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

    ``stream`` reads from an open binary stream instead of opening ``path`` (which then only
    names it in messages), and ``number`` is the line before its first one.
    """

    def __init__(
        self,
        path: str,
        max_bytes: int = DEFAULT_MAX_LINE_BYTES,
        *,
        stream: BinaryIO | None = None,
        number: int = 0,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.number = number
        self._row_started = False
        self._ahead = b""  # bytes read ahead of the lines handed over
        self._failure: Exception | None = None  # a read that failed while reading ahead
        self._stream = _open(path) if stream is None else stream
        self._live = _is_live(self._stream)
        self._gzip = isinstance(self._stream, gzip.GzipFile)

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

    def read_block(self, size: int) -> bytes:
        """The next whole lines, about ``size`` bytes of them, with their endings, not yet counted
        in :attr:`number` (the caller adds them once it has taken them).

        Returns ``b""`` when no whole line is at hand: at the end of the file, before a last line
        without a line ending, a line longer than what was read, or a read that failed. Reading
        line by line from there meets each of them as it would have anyway. From a FIFO (or any
        stream that is not a regular file) it returns the whole lines that have arrived once a
        read gets less than it asked for, rather than wait for ``size`` bytes.
        """
        parts, have = [self._ahead], len(self._ahead)
        while have < size and self._failure is None:
            want = READ_BYTES if self._gzip else size - have
            try:
                data = self._stream.read1(want)
            except _READ_ERRORS as exc:
                self._failure = exc
                break
            if not data:
                break
            parts.append(data)
            have += len(data)
            if self._live and len(data) < want:
                break
        ahead = b"".join(parts)
        end = ahead.rfind(b"\n") + 1
        self._ahead = ahead[end:]
        return ahead[:end]

    def _read(self) -> bytes:
        limit = self.max_bytes + len(_ENDINGS)
        raw = self._take_ahead(limit)
        if len(raw) < limit and not raw.endswith(b"\n"):
            raw += self._readline(limit - len(raw))
        if len(raw) > self.max_bytes and len(raw.rstrip(_ENDINGS)) > self.max_bytes:
            raise JobError(
                f"{self.path}:{self.number + 1}: line longer than {self.max_bytes} bytes "
                f"(max_line_bytes); is this a CSV file of ticks?"
            )
        return raw

    def _take_ahead(self, limit: int) -> bytes:
        """What ``readline(limit)`` would return of the bytes read ahead (they start a line)."""
        ahead = self._ahead
        if not ahead:
            return b""
        end = ahead.find(b"\n", 0, limit) + 1 or min(limit, len(ahead))
        self._ahead = ahead[end:]
        return ahead[:end]

    def _readline(self, size: int) -> bytes:
        try:
            if self._failure is not None:
                raise self._failure
            return self._stream.readline(size)
        except _READ_ERRORS as exc:
            raise JobError(f"{self.path}:{self.number + 1}: unreadable data: {exc}") from None

    def fileno(self) -> int:
        """The descriptor of the file read (for a ``.gz`` file, of the compressed file)."""
        return self._stream.fileno()

    def close(self) -> None:
        """Close the file."""
        self._stream.close()


def _is_live(stream: BinaryIO) -> bool:
    """Whether ``stream`` reads from a FIFO, a terminal or a socket rather than a regular file."""
    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # no file descriptor (io.UnsupportedOperation is an OSError)
        return False


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
