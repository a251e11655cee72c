"""The counters of a job on shards, as one process's: summed where each shard saw its own records."""

from __future__ import annotations

from .context import BuildContext


def merge(results: list[dict], summed: frozenset[str]) -> dict:
    """One result for the job: the counters of ``summed`` nodes (each shard saw its own records)
    summed over shards, the others from shard 0."""
    nodes: dict[str, list] = {}
    rows: dict[str, int] = {}
    for shard, result in enumerate(results):
        for node_id, (node_type, *counts, set_aside) in result["nodes"].items():
            if node_id not in summed and shard != 0:
                continue
            if node_id not in nodes:
                nodes[node_id] = [node_type, *counts, dict(set_aside)]
                continue
            entry = nodes[node_id]
            entry[1:6] = [a + b for a, b in zip(entry[1:6], counts)]
            for reason, n in set_aside.items():
                entry[6][reason] = entry[6].get(reason, 0) + n
        for node_id, n in result["rows"].items():
            if node_id in summed or shard == 0:
                rows[node_id] = rows.get(node_id, 0) + n
    return {"nodes": nodes, "rows": rows}


def summary_context(merged: dict) -> BuildContext:
    """A context holding the merged counters, for :func:`runtime_lib.summary.format_summary`."""
    ctx = BuildContext()
    for node_id, (node_type, events_in, events_out, late, dropped, errors, set_aside) in merged[
        "nodes"
    ].items():
        stats = ctx.stats(node_id, node_type)
        stats.events_in, stats.events_out, stats.late, stats.dropped, stats.errors = (
            events_in, events_out, late, dropped, errors,
        )  # fmt: skip
        stats.set_aside = set_aside
    return ctx
