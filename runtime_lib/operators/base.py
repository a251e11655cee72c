"""The contract every stateful operator implements."""

from __future__ import annotations

from ..stats import NodeStats


class Operator:
    """A pipeline breaker that keeps state between batches.

    ``process(batch)`` returns the records the batch released (possibly none);
    ``on_timer(now_ns)`` returns records released by processing time (live runs only);
    ``flush()`` returns everything still held, at end of stream. Counters go to ``stats``.

    ``processing_time`` is True for operators that release records on processing time
    whatever the sources (a buffer's ``max_wait``, a throttle's refill): the live runner then
    fires their timers even when no source is live.
    """

    processing_time = False

    def __init__(self, node_id: str, stats: NodeStats) -> None:
        self.node_id = node_id
        self.stats = stats

    def process(self, batch: list[dict]) -> list[dict]:
        """Consume a batch and return the records it releases."""
        raise NotImplementedError

    def on_timer(self, now_ns: int) -> list[dict]:
        """Release what processing time ``now_ns`` closes; most operators release nothing."""
        return []

    def flush(self) -> list[dict]:
        """Release everything still held (end of stream)."""
        return []

    def take_side(self, port: str) -> list[dict]:
        """Hand over (and forget) the records collected for side output ``port`` (e.g. "late")."""
        return []
