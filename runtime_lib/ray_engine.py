"""Run a compiled job on N shards with Ray: one actor per shard, on a local cluster or a given one.

Without an address a local Ray instance with one CPU per shard is started on 127.0.0.1 and
stopped at the end; with one (``ray start --head`` on one machine, ``ray start --address`` on the
others) the shards run wherever the cluster has room. Each shard is a
:class:`.shard_run.ShardRunner` actor made from the module's source text, so a worker needs
only ``runtime_lib`` (mdp installed), not the compile cache. The shards are started first (a
process each, with the runtime loaded), then told to run. A shard whose process dies is
restarted by Ray (``max_restarts``) and runs its share again from the start, which the
stores' upserts make safe. The driver joins per-shard JSON-lines files and sums the counters
of the nodes each shard ran on its own records.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .context import BuildContext
from .errors import JobError
from .shard_run import ShardLayout, ShardRunner, shard_path

MAX_RETRIES = 3


def _load_ray():
    try:
        import ray
    except ImportError:
        raise JobError("the ray engine needs Ray: pip install 'mdp[ray]'") from None
    return ray


def run_on_ray(source: str, shards: int, layout: ShardLayout, address: str | None) -> dict:
    """Run every shard to its end and return the merged counters (``ShardRunner.run``'s shape),
    ``start_s``, the time the shards took to start (a process each, the runtime and the module
    loaded), and ``elapsed_s``, from telling the started shards to run to the last one's end."""
    ray = _load_ray()
    started_here = not ray.is_initialized()
    if started_here:
        options = (
            {"address": address}
            if address
            else {"num_cpus": shards, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        )
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a cluster on 127.0.0.1, for this job alone
        ray.init(log_to_driver=False, configure_logging=False, **options)
    try:
        worker = ray.remote(num_cpus=1, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)(ShardRunner)
        begun = time.monotonic()
        runners = [worker.remote(source, shard, shards, layout, os.getcwd()) for shard in range(shards)]
        try:
            _wait(ray, [runner.ready.remote() for runner in runners], runners)
            ready = time.monotonic()
            results = _wait(ray, [runner.run.remote() for runner in runners], runners)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            raise JobError(f"a shard failed: {cause}") from None
        except ray.exceptions.RayError as exc:
            raise JobError(f"a shard could not finish after {MAX_RETRIES} restarts: {exc}") from None
        finished = time.monotonic()
    finally:
        if started_here:
            ray.shutdown()
    merged = merge(results, layout.summed)
    merged["start_s"], merged["elapsed_s"] = ready - begun, finished - ready
    return merged


def _wait(ray, futures: list, runners: list) -> list:
    """The shards' results; SIGINT or SIGTERM stops the shards and says what that leaves."""

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return ray.get(futures)
    except KeyboardInterrupt as exc:
        for runner in runners:
            ray.kill(runner, no_restart=True)
        raise JobError(
            f"stopped by {str(exc) or 'a signal'}: the shards were cancelled; the rows they wrote stay "
            "(a store's upserts make running the job again complete it)"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    return {"nodes": nodes, "rows": rows, "per_shard": [r["rows"] for r in results]}


def join_shard_files(paths: list[str], shards: int) -> None:
    """Concatenate each JSON-lines sink's shard files into its path, in shard order, and remove them."""
    for path in paths:
        parts = [Path(shard_path(path, shard, shards)) for shard in range(shards)]
        temporary = Path(f"{path}.joining")
        with open(temporary, "wb") as out:
            for part in parts:
                if part.exists():
                    out.write(part.read_bytes())
        os.replace(temporary, path)
        for part in parts:
            part.unlink(missing_ok=True)


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
