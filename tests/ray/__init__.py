"""The ray engine: the same configs on 1, 2 and 3 shards of a local Ray cluster."""
