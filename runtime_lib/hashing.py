"""A stable hash for partitioning: the same key gives the same partition in every process."""

from __future__ import annotations

from zlib import crc32


def stable_hash(key: object) -> int:
    """CRC-32 of the key's UTF-8 text (a string as is, anything else by its ``repr``).

    Unlike Python's ``hash()``, which is salted per process for strings, this is the same in
    every process, run and machine, so partitions can be run as shards on several hosts.

    >>> stable_hash("AAPL")
    3060094812
    >>> stable_hash(("AAPL", 1)) == stable_hash(("AAPL", 1))
    True
    """
    text = key if type(key) is str else repr(key)
    return crc32(text.encode("utf-8"))
