"""Prometheus metrics read from a job's counters at scrape time (nothing on the hot path)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from . import __version__

if TYPE_CHECKING:
    from .runner import LiveContext

_COUNTERS = (
    ("events_in", "Records that entered the node"),
    ("events_out", "Records that left the node"),
    ("late", "Ticks that arrived behind their key's watermark"),
    ("dropped", "Records removed on purpose (filtered, deduplicated)"),
    ("errors", "Records set aside because an expression raised"),
)


class NodeCollector:
    """A prometheus_client collector over the counters of the job on ``ctx`` (a LiveContext).

    Per node: the counters of :data:`_COUNTERS` and records set aside by reason. Per sink: rows
    written, rows queued (``mdp_sink_queue_depth``) and the duration of its write calls
    (``mdp_sink_write_seconds``). Per source, once the run has started it: reconnects (0 for a
    source that never reconnects) and ``mdp_event_time_lag_seconds``, the wall clock minus the
    newest event time it delivered (for a live feed, how far behind real time it is; for a replay,
    how old the history it has reached is, as ``mdp list`` shows in LAG). Per job:
    ``mdp_job_up`` and ``mdp_job_info``. The constant ``labels`` given (such as a classic spec's
    tenant_id and pipeline_id) follow the job label on every family.
    """

    def __init__(
        self,
        job: str,
        ctx: LiveContext,
        labels: dict[str, str] | None = None,
        config_sha256: str | None = None,
    ) -> None:
        self.job = job
        self.ctx = ctx
        self.extra = dict(sorted((labels or {}).items()))
        self.config_sha256 = config_sha256 or ""

    def collect(self):
        """Yield the job's metric families, each labelled by job (and node where per node)."""
        names, values = list(self.extra), list(self.extra.values())
        stats = tuple(self.ctx.node_stats.values())
        workers = tuple(self.ctx.workers.items())
        sources = tuple(self.ctx.running.items())
        for name, doc in _COUNTERS:
            family = CounterMetricFamily(f"mdp_node_{name}", doc, labels=["job", "node", "type", *names])
            for node in stats:
                family.add_metric([self.job, node.node_id, node.node_type, *values], getattr(node, name))
            yield family
        set_aside = CounterMetricFamily(
            "mdp_node_set_aside",
            "Records a node refused as bad data, by reason",
            labels=["job", "node", "type", "reason", *names],
        )
        for node in stats:
            for reason, count in sorted(node.set_aside.items()):
                set_aside.add_metric([self.job, node.node_id, node.node_type, reason, *values], count)
        yield set_aside
        yield from self._sink_families(workers, names, values)
        yield from self._source_families(sources, names, values)
        up = GaugeMetricFamily("mdp_job_up", "1 while the job runs", labels=["job", *names])
        up.add_metric([self.job, *values], 1)
        yield up
        info = GaugeMetricFamily(
            "mdp_job_info",
            "The job's config hash and mdp version (always 1)",
            labels=["job", "config_sha256", "mdp_version", *names],
        )
        info.add_metric([self.job, self.config_sha256, __version__, *values], 1)
        yield info

    def _sink_families(self, workers: tuple, names: list[str], values: list[str]):
        labels = ["job", "node", *names]
        rows = CounterMetricFamily("mdp_sink_rows_written", "Rows a sink wrote", labels=labels)
        depth = GaugeMetricFamily(
            "mdp_sink_queue_depth", "Rows handed to a sink and not yet written", labels=labels
        )
        seconds = HistogramMetricFamily(
            "mdp_sink_write_seconds", "Duration of a sink's write calls (one per batch)", labels=labels
        )
        for node_id, worker in workers:
            key = [self.job, node_id, *values]
            rows.add_metric(key, worker.rows_written)
            depth.add_metric(key, worker.queue_depth())
            timings = worker.write_timings
            seconds.add_metric(key, timings.cumulative(), timings.total_s)
        yield from (rows, depth, seconds)

    def _source_families(self, sources: tuple, names: list[str], values: list[str]):
        labels = ["job", "node", *names]
        reconnects = CounterMetricFamily(
            "mdp_source_reconnects", "Reconnects of a live source after its connection dropped", labels=labels
        )
        lag = GaugeMetricFamily(
            "mdp_event_time_lag_seconds",
            "Wall-clock time minus the newest event time a source delivered",
            labels=labels,
        )
        now_ns = time.time_ns()
        for node_id, source in sources:
            reconnects.add_metric([self.job, node_id, *values], getattr(source, "reconnects", 0))
            newest = source.stats.newest_ts
            if newest is not None:
                lag.add_metric([self.job, node_id, *values], (now_ns - newest) / 1e9)
        yield from (reconnects, lag)
