"""Where a plan splits into shards, as the compiler decides it and the shards run it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShardLayout:
    """The exchange node and where every other node runs.

    ``per_shard``: the exchange and every node it feeds, on each shard's keys. ``shared_sources``:
    the replays whose ticks are split by symbol as they are read (each shard makes records of its
    own ticks only). ``fed_sources``: the sources without an end that one feeder reads and sends
    by symbol to the shards. ``read_split``: both kinds with the nodes between them and the
    exchange. ``exchange_filters``: whether the exchange must still keep its shard's keys (a
    source feeds it that is split neither way). Every other node runs once, on shard 0.
    """

    exchange: str
    per_shard: frozenset[str]
    read_split: frozenset[str] = frozenset()
    shared_sources: frozenset[str] = frozenset()
    fed_sources: frozenset[str] = frozenset()
    exchange_filters: bool = True

    def runs_once(self, node_id: str) -> bool:
        """Whether ``node_id`` runs once (on the first shard) rather than on every shard."""
        return node_id not in self.per_shard and node_id not in self.read_split

    @property
    def summed(self) -> frozenset[str]:
        """The nodes whose counters are summed over the shards (each sees its own records)."""
        return self.per_shard | self.read_split
