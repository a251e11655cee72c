"""The contract every sink implements."""

from __future__ import annotations


class Sink:
    """A consumer of record batches.

    ``write`` is synchronous and may block (the run loop calls it from a worker thread, one
    call at a time per sink); it returns how many rows it wrote. ``close`` flushes and releases
    resources.
    """

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def write(self, batch: list[dict]) -> int:
        """Write one batch and return the number of rows written."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush buffered output and release files or connections."""
