"""Per-node counters, kept as plain integers on the hot path and exported to Prometheus."""

from __future__ import annotations


class NodeStats:
    """Counters of one pipeline node, updated once per batch.

    ``events_in``/``events_out`` count records entering and leaving the node; ``late`` counts
    ticks that arrived behind their key's watermark; ``dropped`` counts records the node removed
    on purpose (a filter's rejects, a deduplicated repeat); ``errors`` counts records whose
    expression raised and that were therefore set aside.

    >>> s = NodeStats("liquid", "operator.filter")
    >>> s.add(10, 7)
    >>> (s.events_in, s.events_out)
    (10, 7)
    """

    __slots__ = ("node_id", "node_type", "events_in", "events_out", "late", "dropped", "errors")

    def __init__(self, node_id: str, node_type: str) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.events_in = 0
        self.events_out = 0
        self.late = 0
        self.dropped = 0
        self.errors = 0

    def add(self, events_in: int, events_out: int) -> None:
        """Count one batch: ``events_in`` records came in, ``events_out`` went on."""
        self.events_in += events_in
        self.events_out += events_out

    def as_dict(self) -> dict[str, int | str]:
        """Return the counters as a plain dict (for summaries and job state files)."""
        return {name: getattr(self, name) for name in self.__slots__}
