"""Re-batch a stream: release records in batches of ``max_items``, or sooner after ``max_wait``.

Records are held in arrival order and released unchanged (no wrapping):

* as soon as ``max_items`` are held, in batches of exactly ``max_items`` (one large input batch
  can release several);
* when the oldest held record has waited ``max_wait`` or longer in processing time, checked by
  :meth:`Buffer.on_timer` and by the next :meth:`Buffer.process` (the partial batch then also
  takes along the records that just arrived, up to ``max_items``);
* at :meth:`Buffer.flush`, end of stream, as one final partial batch.

So whatever one call releases is whole batches of ``max_items`` followed by at most one partial
batch. The generated code cuts it into runs of ``max_items`` and pushes each run downstream on
its own, so the next node receives batches of at most ``max_items``.

Time is the operator's ``clock`` (default ``time.monotonic_ns``), read once per call;
``on_timer(now_ns)`` is a prompt to look at it, not a time to compare with monotonic readings.

**Checkpoints.** A snapshot holds the records held, in order, and how long the oldest of them
had waited by the operator's clock when the snapshot was taken. A restored operator's clock is
another process's, so the wait is rebased on it: processing time stands still from the snapshot
to the restore, and the oldest record is released once it has waited ``max_wait`` in all,
counting its wait before the snapshot and after the restore. Nothing held is lost or reordered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..stats import NodeStats
from .base import Operator


class Buffer(Operator):
    """Hold records until ``max_items`` are together or the oldest has waited ``max_wait_ns``.

    >>> clock = iter([0, 0, 5, 5]).__next__
    >>> op = Buffer("batches", NodeStats("batches", "operator.buffer"), max_items=2,
    ...             max_wait_ns=5, clock=clock)
    >>> [r["n"] for r in op.process([{"n": 1}, {"n": 2}, {"n": 3}])]
    [1, 2]
    >>> op.process([{"n": 4}, {"n": 5}])
    [{'n': 3}, {'n': 4}]
    >>> op.on_timer(0)  # {'n': 5} arrived at 0 and has waited 5
    [{'n': 5}]
    """

    processing_time = True

    def __init__(
        self,
        node_id: str,
        stats: NodeStats,
        *,
        max_items: int,
        max_wait_ns: int,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(node_id, stats)
        if max_items < 1:
            raise ValueError(f"{node_id}: max_items must be at least 1, got {max_items}")
        if max_wait_ns < 0:
            raise ValueError(f"{node_id}: max_wait must not be negative, got {max_wait_ns} ns")
        self.max_items = max_items
        self.max_wait_ns = max_wait_ns
        self.clock = clock
        self._held: list[dict] = []
        self._since = 0  # clock reading when the oldest held record arrived

    @property
    def pending(self) -> int:
        """How many records are held."""
        return len(self._held)

    def process(self, batch: list[dict]) -> list[dict]:
        """Add ``batch``; return the full batches it completes, and an overdue partial one."""
        now = self.clock()
        held = self._held
        if not held:
            self._since = now
        held += batch
        full = len(held) - len(held) % self.max_items
        if full:
            out = held[:full]
            # Everything held before this call fitted in the first batch (fewer than max_items
            # were held), so what remains arrived now.
            self._held = held = held[full:]
            self._since = now
        else:
            out = []
        if held and now - self._since >= self.max_wait_ns:
            out += held
            self._held = []
        self.stats.add(len(batch), len(out))
        return out

    def on_timer(self, now_ns: int) -> list[dict]:
        """Release the held records as one batch if the oldest has waited ``max_wait`` or longer."""
        out: list[dict] = []
        if self._held and self.clock() - self._since >= self.max_wait_ns:
            out, self._held = self._held, []
        self.stats.add(0, len(out))
        return out

    def flush(self) -> list[dict]:
        """End of stream: release what is held as one final partial batch."""
        out, self._held = self._held, []
        self.stats.add(0, len(out))
        return out

    def state_snapshot(self) -> dict:
        """The records held (the live list, not a copy) and how long the oldest has waited."""
        waited = self.clock() - self._since if self._held else 0
        return self._state(held=self._held, waited_ns=waited)

    def restore_state(self, state: dict) -> None:
        """Take a :meth:`state_snapshot`; the oldest record's wait goes on from what it was."""
        self._check_state(state)
        self._held = state["held"]
        self._since = self.clock() - state["waited_ns"]

    def state_summary(self) -> dict:
        """``held_records``: how many records are held."""
        return {"held_records": len(self._held)}
