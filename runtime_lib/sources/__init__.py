"""Sources: asynchronous producers of record batches (replay files, synthetic ticks, brokers)."""
