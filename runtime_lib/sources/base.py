"""The contract every source implements."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..errors import JobError
from ..stats import NodeStats

DEFAULT_BATCH_SIZE = 1024
MAX_BATCH_SIZE = 100_000
"""The most records a source hands on at once: a batch is built whole in memory before it moves."""


class Source:
    """An asynchronous producer of record batches.

    Subclasses implement :meth:`batches`. ``live`` is True for sources whose data arrives in
    processing time (a broker feed): stateful operators downstream then also close windows on
    processing-time timers, so an illiquid symbol still gets its bar.

    ``stats`` counts the records the source sets aside as bad data (``stats.set_aside_one``). A
    source starts with counters of its own; whoever runs it replaces them with the job's
    counters for its node before calling :meth:`batches`, so the summary shows them.

    **Checkpoints.** :meth:`position` says where the source stands just after the last batch
    :meth:`batches` yielded (asked between batches only); a fresh source with the same params,
    told :meth:`resume_at` that position before :meth:`batches`, yields exactly the records that
    followed it (batch boundaries may differ) and does not count again what it set aside before
    it (the counters themselves are restored by whoever restores the node). A source whose data
    cannot be read again (a broker feed) has no position.
    """

    live = False
    node_type = "provider"

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.stats = NodeStats(node_id, self.node_type)

    def batches(self) -> AsyncIterator[list[dict]]:
        """Yield lists of records until the source ends (or forever, for endless sources)."""
        raise NotImplementedError

    def progress(self) -> tuple[int, int] | None:
        """(done, total) in the source's own units when the size of the input is known, else None.

        Callable from any thread at any time: it only reads numbers the source keeps up to date.
        """
        return None

    def readiness(self) -> str | None:
        """Why the source cannot deliver now (a feed not connected, reconnecting), or None when it can.

        Callable from any thread; a source without a connection is always ready.
        """
        return None

    def position(self) -> object | None:
        """Where the source stands after the last batch, as data ``marshal`` keeps; None (this
        default) when it cannot resume."""
        return None

    def resume_at(self, position: object) -> None:
        """Before :meth:`batches`: go on after ``position``, which :meth:`position` of a source with
        the same params gave; this default refuses, as such a source gives no position."""
        raise JobError(f"provider {self.node_id!r} ({self.node_type}) cannot resume from a checkpoint")

    async def close(self) -> None:
        """Release connections and files; called once when the job stops."""


def check_batch_size(batch_size: int) -> int:
    """Return ``batch_size`` if it lies in 1..:data:`MAX_BATCH_SIZE`, else raise ``ValueError``."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
    return batch_size
