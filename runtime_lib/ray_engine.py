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

A source without an end is read by one :class:`.shard_feed.SourceFeeder` actor. It is not
restarted when its process dies: a broker feed cannot be read again from where it stood, so the
job stops with the error instead of going on with a gap. A shard that dies while fed is
restarted and goes on with the batches that follow; what its open windows held is lost.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .context import BuildContext
from .errors import JobError
from .shard_feed import FEED_CALLS, SourceFeeder
from .shard_run import ShardLayout, ShardRunner, shard_path

MAX_RETRIES = 3


def _load_ray():
    try:
        import ray
    except ImportError:
        raise JobError("the ray engine needs Ray: pip install 'mdp[ray]'") from None
    return ray


def run_on_ray(
    source: str, shards: int, layout: ShardLayout, address: str | None, limits: RunLimits | None = None
) -> dict:
    """Run every shard to its end and return the merged counters (``ShardRunner.run``'s shape),
    ``start_s``, the time the shards took to start (a process each, the runtime and the module
    loaded), and ``elapsed_s``, from telling the started shards to run to the last one's end.

    Sources without an end are read by a :class:`.shard_feed.SourceFeeder` actor, which stops at
    ``limits`` or on the driver's SIGTERM or SIGINT; the shards then finish as one process does."""
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
    limits = limits or RunLimits()
    try:
        worker = ray.remote(
            num_cpus=1,
            max_restarts=MAX_RETRIES,
            max_task_retries=MAX_RETRIES,
            max_concurrency=1 + len(layout.fed_sources) * FEED_CALLS,  # the run, and the feeder's calls
        )(ShardRunner)
        begun = time.monotonic()
        cwd = os.getcwd()
        runners = [worker.remote(source, shard, shards, layout, cwd) for shard in range(shards)]
        _wait(ray, [runner.ready.remote() for runner in runners], runners, None)
        ready = time.monotonic()
        runs = [runner.run.remote() for runner in runners]
        feeder = None
        if layout.fed_sources:
            fed = sorted(layout.fed_sources)  # the feeder is not restarted: see the module docstring
            feeder = ray.remote(num_cpus=0)(SourceFeeder).remote(
                source, fed, runners, cwd, limits.max_events, limits.duration
            )
            runs.append(feeder.run.remote())
        results = _wait(ray, runs, runners + ([feeder] if feeder else []), feeder)
        finished = time.monotonic()
    finally:
        if started_here:
            ray.shutdown()
    merged = merge(results, layout.summed)
    merged["start_s"], merged["elapsed_s"] = ready - begun, finished - ready
    return merged


@dataclass(frozen=True)
class RunLimits:
    """When a job whose sources never end stops by itself: after ``max_events`` records read, or
    ``duration`` seconds (None: only on a signal)."""

    max_events: int | None = None
    duration: float | None = None


def _wait(ray, futures: list, actors: list, feeder) -> list:
    """The results of ``futures``. SIGINT or SIGTERM tells the ``feeder`` (when there is one) to
    end the sources, so that the shards finish as one process would; without one, or at a
    second signal, it stops the ``actors`` and says what that leaves."""
    stops = []

    def interrupt(signum, _frame):
        stops.append(signal.Signals(signum).name)
        if feeder is not None and len(stops) == 1:
            feeder.stop.remote()
            return
        raise KeyboardInterrupt(stops[-1])

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGINT)}
    pending = list(futures)
    try:
        while pending:  # the first failure, as soon as it happens: the others may wait on it forever
            done, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(done)
            except ray.exceptions.RayError as exc:
                for actor in actors:
                    ray.kill(actor, no_restart=True)
                which = futures.index(done[0])
                part = (
                    "the source feeder"
                    if feeder is not None and which == len(futures) - 1
                    else f"shard {which}"
                )
                raise JobError(_failure(ray, part, exc)) from None
        return ray.get(futures)
    except KeyboardInterrupt as exc:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        raise JobError(
            f"stopped by {str(exc) or 'a signal'}: the shards were cancelled; the rows they wrote stay "
            "(a store's upserts make running the job again complete it)"
        ) from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _failure(ray, part: str, exc: Exception) -> str:
    """What stopped the job, in words: ``part`` of it (a shard, the source feeder) failed or died."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{part} failed: {cause}"
    if part.startswith("shard"):
        return f"{part} died more than {MAX_RETRIES} times: {exc}"
    return f"{part} died (it is not restarted: a feed cannot be read again from where it stood): {exc}"


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
