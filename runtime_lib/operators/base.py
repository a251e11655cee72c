"""The contract every stateful operator implements, and how it sets aside a record it cannot take."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

from ..stats import NodeStats

log = logging.getLogger("mdp.job")
LOGGED_FAILURES_PER_NODE = 10


class Operator:
    """A pipeline breaker that keeps state between batches.

    ``process(batch)`` returns the records the batch released (possibly none);
    ``on_timer(now_ns)`` returns records released by processing time (live runs only);
    ``flush()`` returns everything still held, at end of stream. Counters go to ``stats``.

    ``processing_time`` is True for operators that release records on processing time
    whatever the sources (a buffer's ``max_wait``, a throttle's refill): the live runner then
    fires their timers even when no source is live.

    A record that makes the operator fail (its key or another expression raises, its ``ts`` is
    missing or no integer) is set aside by :meth:`Operator._failed`, as a fused loop sets aside
    a record whose expression raised: counted in ``stats.errors``, logged naming the node, and
    the batch goes on. Operators check such a record before changing any state for it.
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

    def _failed(self, record: object, error: Exception) -> None:
        """Set aside ``record``, which raised ``error``: count it as an error, log the first few."""
        stats = self.stats
        stats.errors += 1
        if stats.errors <= LOGGED_FAILURES_PER_NODE:
            log.warning("record set aside in %r: %s: %s; record: %.300r",
                        self.node_id, type(error).__name__, error, record)  # fmt: skip
        if stats.errors == LOGGED_FAILURES_PER_NODE:
            log.warning("node %r: further records set aside for errors are counted, not logged", self.node_id)

    def _keyed(self, batch: list[dict], key: Callable[[dict], Hashable]) -> tuple[list[dict], list]:
        """``(records, keys)``: the records of ``batch`` with their keys, minus those whose key raised.

        The whole batch in one pass when no key raises; otherwise record by record, setting
        aside each record whose key raised.
        """
        try:
            return batch, list(map(key, batch))
        except Exception:
            pass
        records: list[dict] = []
        keys: list = []
        for r in batch:
            try:
                k = key(r)
            except Exception as exc:
                self._failed(r, exc)
                continue
            records.append(r)
            keys.append(k)
        return records, keys
