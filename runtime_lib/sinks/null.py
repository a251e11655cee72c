"""A sink that discards records and counts them (benchmarks, dry runs)."""

from __future__ import annotations

from .base import Sink


class NullSink(Sink):
    """Count rows and batches, write nothing.

    >>> sink = NullSink("discard")
    >>> sink.write([{"a": 1}, {"a": 2}])
    2
    >>> (sink.rows, sink.batches)
    (2, 1)
    """

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.rows = 0
        self.batches = 0

    def write(self, batch: list[dict]) -> int:
        """Count ``batch`` and return its length."""
        self.rows += len(batch)
        self.batches += 1
        return len(batch)
