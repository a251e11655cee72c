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
    """A prometheus_client collector over a job's :class:`NodeStats`, sink workers and sources.

    ``sources`` (filled once the run has started them) adds ``mdp_source_reconnects_total`` for
    each source that counts reconnects (``reconnects``, as ``provider.ibkr.stream`` does).
    """

    def __init__(
        self,
        job: str,
        stats: dict[str, NodeStats],
        rows_written: dict[str, object],
        labels: dict[str, str] | None = None,
        sources: dict[str, object] | None = None,
    ) -> None:
        self.job = job
        self.stats = stats
        self.rows_written = rows_written
        self.extra = dict(sorted((labels or {}).items()))
        self.sources = sources if sources is not None else {}

    def collect(self):
        """Yield one metric family per counter, labelled by job, node and node type.

        The constant ``labels`` given (such as a classic spec's tenant_id and pipeline_id)
        follow on every family.
        """
        names, values = list(self.extra), list(self.extra.values())
        labels = ["job", "node", "type", *names]
        for name, doc in _COUNTERS:
            family = CounterMetricFamily(f"mdp_node_{name}", doc, labels=labels)
            for stats in self.stats.values():
                family.add_metric([self.job, stats.node_id, stats.node_type, *values], getattr(stats, name))
            yield family
        set_aside = CounterMetricFamily(
            "mdp_node_set_aside",
            "Records a node refused as bad data, by reason",
            labels=["job", "node", "type", "reason", *names],
        )
        for stats in self.stats.values():
            for reason, count in sorted(stats.set_aside.items()):
                set_aside.add_metric([self.job, stats.node_id, stats.node_type, reason, *values], count)
        yield set_aside
        rows = CounterMetricFamily(
            "mdp_sink_rows_written", "Rows a sink wrote", labels=["job", "node", *names]
        )
        for node_id, worker in self.rows_written.items():
            rows.add_metric([self.job, node_id, *values], worker.rows_written)
        yield rows
        reconnects = [(i, s.reconnects) for i, s in list(self.sources.items()) if hasattr(s, "reconnects")]
        if reconnects:  # live sources that reconnect (provider.ibkr.stream)
            family = CounterMetricFamily(
                "mdp_source_reconnects",
                "Reconnects of a live source after its " "connection dropped",
                labels=["job", "node", *names],
            )
            for node_id, count in reconnects:
                family.add_metric([self.job, node_id, *values], count)
            yield family
        up = GaugeMetricFamily("mdp_job_up", "1 while the job runs", labels=["job", *names])
        up.add_metric([self.job, *values], 1)
        yield up


def serve_metrics(collector: NodeCollector, port: int, host: str = "127.0.0.1"):
    """Expose ``collector`` on http://host:port/metrics; return the server (call ``shutdown()``)."""
    registry = CollectorRegistry()
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
