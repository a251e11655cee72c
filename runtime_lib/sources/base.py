"""The contract every source implements."""

from __future__ import annotations

from collections.abc import AsyncIterator

DEFAULT_BATCH_SIZE = 1024


class Source:
    """An asynchronous producer of record batches.

    Subclasses implement :meth:`batches`. ``live`` is True for sources whose data arrives in
    processing time (a broker feed): stateful operators downstream then also close windows on
    processing-time timers, so an illiquid symbol still gets its bar.
    """

    live = False

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def batches(self) -> AsyncIterator[list[dict]]:
        """Yield lists of records until the source ends (or forever, for endless sources)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections and files; called once when the job stops."""
