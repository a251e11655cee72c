"""Write records as JSON Lines: one compact JSON object per line, to a file or stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from ..errors import JobError
from .base import Sink

STDOUT = "-"
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JsonlSink(Sink):
    """Append each batch to ``path`` (``"-"`` is standard output, which is left open).

    A file is truncated when the sink is created, its folders created as needed, and flushed
    after every batch so complete batches survive a crash.
    """

    def __init__(self, node_id: str, *, path: str) -> None:
        super().__init__(node_id)
        self.path = str(path)
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
        stream = sys.stdout if self._file is None else self._file
        stream.write("".join(_encode(record) + "\n" for record in batch))
        stream.flush()
        return len(batch)

    def close(self) -> None:
        """Flush standard output, or close the file."""
        if self._file is None:
            sys.stdout.flush()
        elif not self._file.closed:
            self._file.close()
