"""Per-node counters, kept as plain integers on the hot path and exported to Prometheus."""

from __future__ import annotations

import logging

log = logging.getLogger("mdp.job")
LOGGED_PER_REASON = 10


class NodeStats:
    """Counters of one pipeline node, updated once per batch.

    ``events_in``/``events_out`` count records entering and leaving the node; ``late`` counts
    ticks that arrived behind their key's watermark; ``dropped`` counts records the node removed
    on purpose (a filter's rejects, a deduplicated repeat); ``errors`` counts records whose
    expression raised and that were therefore set aside. ``set_aside`` counts, by reason, the
    records a node refused as bad data (a source's implausible timestamp, an operator's outlier).
    ``newest_ts`` is the newest event time a source has delivered (integer ns), or None.

    >>> s = NodeStats("liquid", "operator.filter")
    >>> s.add(10, 7)
    >>> (s.events_in, s.events_out)
    (10, 7)
    """

    __slots__ = (
        "node_id",
        "node_type",
        "events_in",
        "events_out",
        "late",
        "dropped",
        "errors",
        "set_aside",
        "newest_ts",
    )

    def __init__(self, node_id: str, node_type: str) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.events_in = 0
        self.events_out = 0
        self.late = 0
        self.dropped = 0
        self.errors = 0
        self.set_aside: dict[str, int] = {}
        self.newest_ts: int | None = None  # a source's newest event time so far (ns), for the lag

    def add(self, events_in: int, events_out: int) -> None:
        """Count one batch: ``events_in`` records came in, ``events_out`` went on."""
        self.events_in += events_in
        self.events_out += events_out

    def set_aside_one(self, reason: str, detail: str) -> None:
        """Count one record set aside for ``reason``; log the first few with ``detail``.

        ``detail`` says where the record came from (file and line) and what it held.

        >>> s = NodeStats("ticks", "provider.replay")
        >>> s.set_aside_one("ts out of range", "ticks.csv:7: ts 5")
        >>> s.set_aside, s.set_aside_total
        ({'ts out of range': 1}, 1)
        """
        count = self.set_aside.get(reason, 0) + 1
        self.set_aside[reason] = count
        if count <= LOGGED_PER_REASON:
            log.warning("node %r set aside a record (%s): %s", self.node_id, reason, detail)
        if count == LOGGED_PER_REASON:
            log.warning(
                "node %r: further records set aside for %s are counted, not logged", self.node_id, reason
            )

    @property
    def set_aside_total(self) -> int:
        """All records this node set aside as bad data, whatever the reason."""
        return sum(self.set_aside.values())

    def as_dict(self) -> dict[str, object]:
        """Return the counters as a plain dict (for summaries and job state files)."""
        counters = {name: getattr(self, name) for name in self.__slots__}
        counters["set_aside"] = dict(self.set_aside)
        return counters
