"""A shard's share of a replay: the ticks of the symbols the shard owns, read where they are parsed.

When a job runs on N shards and its records are split by symbol, every shard reads the whole
input, but only the ticks of its own symbols (``stable_hash(symbol) % N == shard``) go on to
become records: the others are dropped just after parsing, before a dict is made for them.
Every row is still checked exactly as one process checks it, so a shard decides the same blocks
fast or row by row, and notices the first tick (which settles how integer timestamps are read)
on the same row. A row that is not a tick is set aside by the shard that owns its symbol, and a
row with no symbol to read (a wrong field count, bytes that are not text) by shard 0, so the
shards' counters add up to one process's.
"""

from __future__ import annotations

from ..hashing import stable_hash


def shard_of(symbol: object, shards: int) -> int:
    """The shard of ``shards`` that owns ``symbol``: ``stable_hash(symbol) % shards``, and shard 0
    for a value that is not a str (a record without a symbol is set aside there)."""
    return stable_hash(symbol) % shards if type(symbol) is str else 0


class ShardShare:
    """The symbols shard ``shard`` of ``shards`` owns; see the module docstring."""

    def __init__(self, shard: int, shards: int) -> None:
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be between 0 and {shards - 1}, got {shard}")
        self.shard, self.shards = shard, shards
        self._owned: dict[str, bool] = {}

    def owns(self, symbol: object) -> bool:
        """Whether the tick or row of ``symbol`` is this shard's (shard 0's when not a str)."""
        owned = self._owned.get(symbol) if type(symbol) is str else None
        if owned is None:
            owned = shard_of(symbol, self.shards) == self.shard
            if type(symbol) is str:
                self._owned[symbol] = owned
        return owned

    def owns_all(self, symbols: list[str]) -> list[bool] | None:
        """For each of ``symbols``, whether this shard owns it; None when it owns every one."""
        owned = {symbol: self.owns(symbol) for symbol in set(symbols)}  # a few hundred symbols at most
        if all(owned.values()):
            return None
        return list(map(owned.__getitem__, symbols))

    @property
    def sets_aside_unowned(self) -> bool:
        """Whether this shard sets aside the rows that have no symbol to own them (shard 0)."""
        return self.shard == 0
