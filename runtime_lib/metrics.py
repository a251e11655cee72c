"""Prometheus metrics read from the per-node counters at scrape time (nothing on the hot path)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .stats import NodeStats

_COUNTERS = (
    ("events_in", "Records that entered the node"),
    ("events_out", "Records that left the node"),
    ("late", "Ticks that arrived behind their key's watermark"),
    ("dropped", "Records removed on purpose (filtered, deduplicated)"),
    ("errors", "Records set aside because an expression raised"),
)


class NodeCollector:
    """A prometheus_client collector over a job's :class:`NodeStats` and sink workers."""

    def __init__(self, job: str, stats: dict[str, NodeStats], rows_written: dict[str, object]) -> None:
        self.job = job
        self.stats = stats
        self.rows_written = rows_written

    def collect(self):
        """Yield one metric family per counter, labelled by job, node and node type."""
        labels = ["job", "node", "type"]
        for name, doc in _COUNTERS:
            family = CounterMetricFamily(f"mdp_node_{name}", doc, labels=labels)
            for stats in self.stats.values():
                family.add_metric([self.job, stats.node_id, stats.node_type], getattr(stats, name))
            yield family
        rows = CounterMetricFamily("mdp_sink_rows_written", "Rows a sink wrote", labels=["job", "node"])
        for node_id, worker in self.rows_written.items():
            rows.add_metric([self.job, node_id], worker.rows_written)
        yield rows
        up = GaugeMetricFamily("mdp_job_up", "1 while the job runs", labels=["job"])
        up.add_metric([self.job], 1)
        yield up


def serve_metrics(collector: NodeCollector, port: int, host: str = "127.0.0.1"):
    """Expose ``collector`` on http://host:port/metrics; return the server (call ``shutdown()``)."""
    registry = CollectorRegistry()
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
