"""The counters part of a job record, read from a running job's context by another thread.

The counters are plain integers that the job's thread updates; reading them from the record
writer's thread needs no lock. The context's dicts are copied in one step before use, since
``build`` may still be adding nodes to them.

Totals: ``events_in`` is what the sources delivered (the sum of the sources' ``out``),
``events_out`` is what reached the sinks (the sum of the sinks' ``in``), ``rows_written`` is
what the sinks report written. ``lag_s`` is how far the slowest source's newest event time is
behind the wall clock (``newest_event_at``); None before any source has delivered an event.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(ns: int) -> str:
    """An epoch-nanosecond time as UTC ISO-8601 text, to the millisecond.

    >>> utc_text(1_700_000_000_123_456_789)
    '2023-11-14T22:13:20.123Z'
    """
    moment = datetime.fromtimestamp(ns // 1_000_000 / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def counters(ctx: object, now_ns: int) -> dict:
    """``nodes``, ``sinks``, ``totals``, ``lag_s`` and ``newest_event_at`` of the job on ``ctx``
    (a :class:`~runtime_lib.runner.LiveContext`), as of ``now_ns``."""
    nodes = {}
    for node_id, stats in tuple(ctx.node_stats.items()):
        reasons = dict(stats.set_aside)
        nodes[node_id] = {
            "type": stats.node_type,
            "in": stats.events_in,
            "out": stats.events_out,
            "late": stats.late,
            "dropped": stats.dropped,
            "errors": stats.errors,
            "set_aside": sum(reasons.values()),
            "set_aside_reasons": reasons,
            "newest_ts": stats.newest_ts,
        }
    sinks = {
        node_id: {"queue_depth": worker.queue_depth(), "rows_written": worker.rows_written}
        for node_id, worker in tuple(ctx.workers.items())
    }
    sources = [nodes[node_id] for node_id in tuple(ctx.sources) if node_id in nodes]
    newest = [source["newest_ts"] for source in sources if source["newest_ts"] is not None]
    slowest = min(newest) if newest else None
    return {
        "totals": {
            "events_in": sum(source["out"] for source in sources),
            "events_out": sum(nodes[node_id]["in"] for node_id in sinks if node_id in nodes),
            "rows_written": sum(sink["rows_written"] for sink in sinks.values()),
        },
        "lag_s": None if slowest is None else round((now_ns - slowest) / 1e9, 3),
        "newest_event_at": None if slowest is None else utc_text(slowest),
        "nodes": nodes,
        "sinks": sinks,
    }
