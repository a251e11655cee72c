"""One shard of a job: the compiled module built so that only this shard's keys reach the
exchange, and the nodes that run once do their work on the first shard only.

Every shard reads the whole of a bounded input. A replay whose ticks go to the exchange
unchanged in symbol keeps only this shard's symbols as it reads (:mod:`.sources.shard_share`),
so a shard makes records of its own ticks only; otherwise every shard runs the nodes before the
exchange on every record, and the exchange operator keeps the records whose
``stable_hash(key) % shards`` is this shard. A source without an end is read once, by the
feeder of :mod:`.shard_feed`, and yields here what it sent this shard. Either way each key's state lives on one shard. A sink that runs once writes on shard 0
only. A JSON-lines sink that runs per shard writes ``<path>.shard-<k>-of-<n>``, which the driver
joins into ``<path>`` when every shard is done.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from .hashing import stable_hash
from .module_text import module_from_text
from .readiness import not_ready_reasons
from .runner import LiveContext, Run, RunOptions
from .shard_feed import FedSource, Inbox
from .shard_layout import ShardLayout

SHARD_FILE = "{path}.shard-{shard}-of-{shards}"


def shard_path(path: str, shard: int, shards: int) -> str:
    """Where shard ``shard`` of ``shards`` writes a JSON-lines sink's ``path``."""
    return SHARD_FILE.format(path=path, shard=shard, shards=shards)


class ShardContext(LiveContext):
    """A live context for shard ``shard`` of ``shards``: see the module docstring."""

    def __init__(
        self, shard: int, shards: int, layout: ShardLayout, inboxes: dict[str, Inbox] | None = None
    ) -> None:
        super().__init__()
        self.shard, self.shards, self.layout = shard, shards, layout
        self.per_shard = layout.per_shard
        self.inboxes = inboxes or {}

    def source(self, node_id: str, node_type: str, cls: type, **params) -> None:
        """Declare the source; a replay split as read keeps this shard's symbols only, and a
        source the feeder reads yields what it sends this shard."""
        if node_id in self.layout.fed_sources:
            params, cls = {"inbox": self.inboxes[node_id], "live": cls.live}, FedSource
        elif node_id in self.layout.shared_sources and self.shards > 1:
            params = {**params, "share": (self.shard, self.shards)}
        super().source(node_id, node_type, cls, **params)

    def operator(self, node_id: str, node_type: str, cls: type, **params):
        """Create the operator; the exchange's ``process`` first keeps this shard's records only,
        unless every record reaching it is this shard's already."""
        instance = super().operator(node_id, node_type, cls, **params)
        if node_id == self.layout.exchange and self.layout.exchange_filters and self.shards > 1:
            process, key, shard, shards = instance.process, instance.key, self.shard, self.shards

            def own_keys(batch: list[dict]) -> list[dict]:
                mine = []
                for record in batch:
                    try:
                        if stable_hash(key(record)) % shards == shard:
                            mine.append(record)
                    except Exception:  # a key that raises is set aside by the operator, on shard 0
                        if shard == 0:
                            mine.append(record)
                return process(mine)

            instance.process = own_keys
        return instance

    def sink(self, node_id: str, node_type: str, cls: type, **params):
        """The sink, on shard 0 for one that runs once; a per-shard JSON-lines file of its own."""
        if node_id not in self.per_shard and self.shard != 0:
            self.stats(node_id, node_type)
            return lambda batch: None
        if node_id in self.per_shard and node_type == "sink.jsonl" and params.get("path") != "-":
            params = {**params, "path": shard_path(str(params["path"]), self.shard, self.shards)}
        return super().sink(node_id, node_type, cls, **params)


class ShardRunner:
    """Shard ``shard`` of ``shards`` of the compiled module ``source``, made ready to run: in the
    working directory ``cwd`` (the driver's: the config's relative paths mean the same there),
    with the module and the runtime loaded, so that :meth:`run` starts on the records at once."""

    def __init__(self, source: str, shard: int, shards: int, layout: ShardLayout, cwd: str) -> None:
        os.chdir(cwd)
        restarted = _restarted_by_ray()
        self.shard, self.shards, self.layout = shard, shards, layout
        self.inboxes = {node_id: Inbox(restarted) for node_id in layout.fed_sources}
        self.ctx: ShardContext | None = None  # the context of the run, once it has begun
        self.module = module_from_text(source, f"mdp_shard_{shard}")

    def ready(self) -> int:
        """The pid of the process the shard runs in, once it is ready."""
        return os.getpid()

    def feed(self, node_id: str, number: int, batch: list[dict] | None) -> None:
        """Take batch ``number`` of source ``node_id`` from the feeder (None: the source has
        ended); wait for the batches before it, and while the shard has
        :data:`.shard_feed.FEED_AHEAD` batches of it waiting."""
        self.inboxes[node_id].put(number, batch)

    def run(self) -> dict:
        """Run the shard to its end and return its counters (:func:`_counters`) and ``seconds``,
        its run time."""
        began = time.monotonic()
        self.ctx = ShardContext(self.shard, self.shards, self.layout, self.inboxes)
        self.module.build(self.ctx)
        asyncio.run(Run(self.ctx, RunOptions(job_name=self.module.JOB_NAME)).execute(watchdog=False))
        return {**_counters(self.ctx), "seconds": time.monotonic() - began}

    def progress(self) -> dict:
        """The counters so far (:func:`_counters`), why the shard is not ready, and where it runs;
        asked by the driver while :meth:`run` runs."""
        where = {"pid": os.getpid(), "host": socket.gethostname()}
        if self.ctx is None:
            return {**_counters(LiveContext()), "not_ready": ["starting"], **where}
        return {**_counters(self.ctx), "not_ready": not_ready_reasons(self.ctx), **where}


def _counters(ctx: LiveContext) -> dict:
    """What ``ctx`` counted: ``{"nodes": {node: [type, in, out, late, dropped, errors, {reason:
    n}]}, "rows": {sink: rows written}, "sinks": {sink: (queue depth, rows written, write-time
    buckets, write seconds)}, "sources": [source ids]}``."""
    nodes = {
        node_id: [s.node_type, s.events_in, s.events_out, s.late, s.dropped, s.errors, dict(s.set_aside)]
        for node_id, s in tuple(ctx.node_stats.items())
    }
    workers = tuple(ctx.workers.items())
    sinks = {
        node_id: (w.queue_depth(), w.rows_written, w.write_timings.cumulative(), w.write_timings.total_s)
        for node_id, w in workers
    }
    rows = {node_id: rows_written for node_id, (_depth, rows_written, _buckets, _seconds) in sinks.items()}
    return {"nodes": nodes, "rows": rows, "sinks": sinks, "sources": list(ctx.sources)}


def _restarted_by_ray() -> bool:
    """Whether this process is a Ray actor started again after its first process died."""
    import ray

    return ray.is_initialized() and ray.get_runtime_context().was_current_actor_reconstructed
