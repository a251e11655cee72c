"""Sinks: where batches leave the pipeline (stores, files, counters)."""
