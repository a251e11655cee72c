"""Write records as JSON Lines: one compact JSON object per line, to a file or stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

from ..errors import JobError
from .base import Sink, non_record

STDOUT = "-"
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JsonlSink(Sink):
    """Append each batch to ``path`` (``"-"`` is standard output, which is left open).

    A file is truncated when the sink is created, its folders created as needed, and flushed
    after every batch so complete batches survive a crash. A batch holding something other
    than a record (a plugin that returned a list) is refused whole, and the job stops.
    """

    def __init__(self, node_id: str, *, path: str) -> None:
        super().__init__(node_id)
        self.path = str(path)
        self.target = "stdout" if self.path == STDOUT else self.path
        self._file: IO[str] | None = None
        if self.path != STDOUT:
            target = Path(self.path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(target, "w", encoding="utf-8")
            except OSError as exc:
                raise JobError(f"{self.path}: cannot open for writing: {exc.strerror or exc}") from None

    def write(self, batch: list[dict]) -> int:
        """Write one line per record and return the number of lines written."""
        refused = non_record(batch)
        if refused:
            raise JobError(refused)
        text = "".join(_encode(record) + "\n" for record in batch)
        stream = sys.stdout if self._file is None else self._file
        try:
            stream.write(text)
            stream.flush()
        except OSError as exc:
            self._abandon_stdout()
            raise JobError(f"cannot write: {exc.strerror or exc}") from None
        return len(batch)

    def close(self) -> None:
        """Flush standard output, or close the file."""
        try:
            if self._file is None:
                sys.stdout.flush()
            elif not self._file.closed:
                self._file.close()
        except OSError as exc:
            self._abandon_stdout()
            raise JobError(f"cannot write: {exc.strerror or exc}") from None

    def _abandon_stdout(self) -> None:
        """After standard output failed (a closed pipe, a full disk), point it at the null device,
        so that flushing the text it still buffers, when Python exits, does not fail again."""
        if self._file is not None:
            return  # a file is closed by close(), which drops what it could not write
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)
