"""The driver's view of a job running on shards, for ``mdp status``, ``/readyz`` and ``/metrics``.

Every :data:`POLL_INTERVAL_S` a thread asks each shard (:meth:`.shard_run.ShardRunner.progress`)
for its counters, its sinks' queues and write times, and why it is not ready. The merged
counters live on :attr:`ShardWatch.ctx`, shaped like a running job's context, so the job record
and the metrics collector read them as they read one process's; :meth:`ShardWatch.shards` lists
each shard, and a shard that does not answer within :data:`POLL_TIMEOUT_S` (its process died and
Ray is starting it again, or it is stuck) is ``missing``, which :meth:`ShardWatch.reasons` makes
``/readyz`` report.
"""

from __future__ import annotations

import threading

from .context import BuildContext
from .shard_counters import merge, summary_context

POLL_INTERVAL_S = 1.0
POLL_TIMEOUT_S = 5.0


class _SinkView:
    """A sink's numbers summed over the shards, read as a sink worker's."""

    def __init__(self) -> None:
        self.rows_written = 0
        self.depth = 0
        self.write_timings = _Timings()

    def queue_depth(self) -> int:
        """Rows handed to the sink and not yet written, on every shard."""
        return self.depth


class _Timings:
    """Write times summed over the shards, read as :class:`.write_timings.WriteTimings`."""

    def __init__(self) -> None:
        self.buckets: dict[str, int] = {}
        self.total_s = 0.0

    def cumulative(self) -> list[tuple[str, int]]:
        """Cumulative counts per bucket bound, as each shard gave them, summed."""
        return list(self.buckets.items())


class ShardWatch:
    """Poll ``runners`` (the shard actors) with ``ray``; see the module docstring. ``summed`` are
    the nodes whose counters add up over the shards; the others are shard 0's."""

    def __init__(self, ray, runners: list, summed: frozenset[str]) -> None:
        self.ray, self.runners, self.summed = ray, runners, summed
        self.ctx = BuildContext()
        self.ctx.workers, self.ctx.running, self.ctx.phase = {}, {}, "starting"
        self._latest: list[dict | None] = [None] * len(runners)
        self._state = ["starting"] * len(runners)
        self._restarts = [0] * len(runners)  # times a shard answered from a new process
        self._feeder: list[dict] = []  # the source feeder's counters, once it has finished
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="mdp-shard-watch", daemon=True)

    def start(self) -> None:
        """Start polling; the job is running."""
        self.ctx.phase = "running"
        self._thread.start()

    def stop(self, results: list[dict] | None = None) -> None:
        """Stop polling; with the final ``results`` of the shards (and, after them, the source
        feeder's), show those."""
        self.ctx.phase = "stopping"
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(POLL_TIMEOUT_S + 1)
        if results is not None:
            shards = len(self.runners)
            self._latest = [{**(before or {}), **final} for before, final in zip(self._latest, results)]
            self._feeder = list(results[shards:])
            self._state = ["finished"] * shards
            self._merge()
        self.ctx.phase = "stopped"

    def shards(self) -> list[dict]:
        """Each shard's state (``running``, ``missing``, ``finished``), host, pid, how often Ray
        restarted it, and its counters."""
        rows = []
        for shard, (state, latest) in enumerate(zip(self._state, self._latest)):
            latest = latest or {}
            rows.append(
                {
                    "shard": shard,
                    "state": state,
                    "host": latest.get("host"),
                    "pid": latest.get("pid"),
                    "restarts": self._restarts[shard],
                    "nodes": {node: counts[1:6] for node, counts in latest.get("nodes", {}).items()},
                    "rows_written": sum(latest.get("rows", {}).values()),
                }
            )
        return rows

    def reasons(self) -> list[str]:
        """Why the job is not ready: a shard missing, or what a shard says of itself."""
        if self.ctx.phase != "running":
            return [f"the job is {self.ctx.phase}"]
        found = []
        for shard, (state, latest) in enumerate(zip(self._state, self._latest)):
            if state == "missing":
                found.append(f"shard {shard} is missing: it did not answer for {POLL_TIMEOUT_S:.0f} s")
            for reason in (latest or {}).get("not_ready", []) if state == "running" else []:
                found.append(f"shard {shard}: {reason}")
        return found

    def _poll(self) -> None:
        while not self._done.wait(POLL_INTERVAL_S):
            calls = [runner.progress.remote() for runner in self.runners]
            for shard, call in enumerate(calls):
                try:
                    latest = self.ray.get(call, timeout=POLL_TIMEOUT_S)
                    before = self._latest[shard]
                    if before is not None and before.get("pid") != latest.get("pid"):
                        self._restarts[shard] += 1
                    self._latest[shard], self._state[shard] = latest, "running"
                except self.ray.exceptions.RayError:  # dead, restarting, or not answering in time
                    self._state[shard] = "missing"
            self._merge()

    def _merge(self) -> None:
        """Replace the counters on :attr:`ctx` with the sum of the shards' latest (one step each)."""
        latest = [result or {"nodes": {}, "rows": {}} for result in self._latest]
        merged = summary_context(merge(latest + self._feeder, self.summed))
        workers: dict[str, _SinkView] = {}
        for shard, result in enumerate(latest):
            for node_id, (depth, rows, buckets, total_s) in result.get("sinks", {}).items():
                if node_id not in self.summed and shard != 0:
                    continue
                view = workers.setdefault(node_id, _SinkView())
                view.depth += depth
                view.rows_written += rows
                view.write_timings.total_s += total_s
                for bound, count in buckets:
                    view.write_timings.buckets[bound] = view.write_timings.buckets.get(bound, 0) + count
        self.ctx.node_stats = merged.node_stats
        self.ctx.workers = workers
        self.ctx.sources = {node_id: None for node_id in (latest[0].get("sources") or [])}
