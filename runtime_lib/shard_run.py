"""One shard of a job: the compiled module built so that only this shard's keys reach the
exchange, and the nodes that run once do their work on the first shard only.

Every shard reads the whole input and runs the nodes before the exchange (they are cheap next
to what follows: parsing and stateless loops); the exchange operator then keeps the records whose
``stable_hash(key) % shards`` is this shard, so each key's state lives on one shard. A sink that
runs once writes on shard 0 only. A JSON-lines sink that runs per shard writes
``<path>.shard-<k>-of-<n>``, which the driver joins into ``<path>`` when every shard is done.
"""

from __future__ import annotations

import asyncio
import os
import types

from .hashing import stable_hash
from .runner import LiveContext, Run, RunOptions

SHARD_FILE = "{path}.shard-{shard}-of-{shards}"


def shard_path(path: str, shard: int, shards: int) -> str:
    """Where shard ``shard`` of ``shards`` writes a JSON-lines sink's ``path``."""
    return SHARD_FILE.format(path=path, shard=shard, shards=shards)


class ShardContext(LiveContext):
    """A live context for shard ``shard`` of ``shards``: see the module docstring."""

    def __init__(self, shard: int, shards: int, exchange: str, per_shard: frozenset[str]) -> None:
        super().__init__()
        self.shard, self.shards, self.exchange, self.per_shard = shard, shards, exchange, per_shard

    def operator(self, node_id: str, node_type: str, cls: type, **params):
        """Create the operator; the exchange's ``process`` first keeps this shard's records only."""
        instance = super().operator(node_id, node_type, cls, **params)
        if node_id == self.exchange:
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


def run_shard(source: str, shard: int, shards: int, exchange: str, per_shard: list[str], cwd: str) -> dict:
    """Run shard ``shard`` of the compiled module ``source`` to its end, in the working directory
    ``cwd`` (the driver's: the config's relative paths mean the same there); return its counters:
    ``{"nodes": {node: [type, in, out, late, dropped, errors, {reason: n}]}, "rows": {sink: n}}``."""
    os.chdir(cwd)
    module = types.ModuleType(f"mdp_shard_{shard}")
    exec(compile(source, "<mdp job>", "exec"), module.__dict__)  # the compiled module, as mdp wrote it
    ctx = ShardContext(shard, shards, exchange, frozenset(per_shard))
    module.build(ctx)
    asyncio.run(Run(ctx, RunOptions(job_name=module.JOB_NAME)).execute(watchdog=False))
    nodes = {
        node_id: [s.node_type, s.events_in, s.events_out, s.late, s.dropped, s.errors, dict(s.set_aside)]
        for node_id, s in ctx.node_stats.items()
    }
    rows = {node_id: worker.rows_written for node_id, worker in ctx.workers.items()}
    return {"nodes": nodes, "rows": rows}
