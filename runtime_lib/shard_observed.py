"""What ``mdp list``, ``mdp status`` and the endpoints show of a job on shards, from its driver."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from .http_endpoints import Endpoints, serve_endpoints
from .job_registry import JobRecord
from .metrics import NodeCollector
from .runner import RunOptions
from .runtime_gauges import RUNTIME_JOBS_RUNNING, RUNTIME_UP, job_started, job_stopped
from .shard_watch import ShardWatch


class ObservedRun:
    """The record of a sharded run (its merged counters and ``shards``, each shard's), and with
    ``options.metrics_port`` the endpoints, whose ``/readyz`` reports a missing shard."""

    def __init__(self, options: RunOptions, watch: ShardWatch) -> None:
        self.options = options
        self.record = JobRecord.open(
            options.job_name, options, watch.ctx, extra=lambda: {"shards": watch.shards()}
        )
        self.endpoints: Endpoints | None = None
        if options.metrics_port is not None:
            registry = CollectorRegistry()
            registry.register(
                NodeCollector(options.job_name, watch.ctx, options.labels, options.config_sha256)
            )
            registry.register(RUNTIME_UP)
            registry.register(RUNTIME_JOBS_RUNNING)
            about = {"job": options.job_name, "mode": options.mode, "engine": "ray"}
            self.endpoints = serve_endpoints(options.metrics_port, registry, watch.reasons, about)
        job_started(options.mode)

    def close(self, status: int, error: str | None = None) -> None:
        """Stop the endpoints and write the record's end (``error`` when it failed)."""
        if self.endpoints is not None:
            self.endpoints.close()
        job_stopped(self.options.mode)
        if error is not None:
            self.record.failed(error)
        self.record.close(status)
