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
import socket
import time
from pathlib import Path

from .errors import JobError
from .runner import RunOptions
from .shard_counters import merge
from .shard_feed import FEED_CALLS, SourceFeeder
from .shard_layout import ShardLayout
from .shard_observed import ObservedRun
from .shard_run import ShardRunner, shard_path
from .shard_watch import ShardWatch

MAX_RETRIES = 3
CONNECT_TIMEOUT_S = 5.0


def _load_ray():
    try:
        import ray
    except ImportError:
        raise JobError("the ray engine needs Ray: pip install 'mdp[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """A :class:`JobError` when nothing answers at ``address`` (``host:port``) within
    :data:`CONNECT_TIMEOUT_S`: Ray itself would wait for minutes, retrying."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # another form (ray://..., auto): Ray resolves it
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise JobError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
            "(start one with `ray start --head`, or leave out --address for a local one)"
        ) from None


def run_on_ray(
    source: str, shards: int, layout: ShardLayout, address: str | None, options: RunOptions
) -> dict:
    """Run every shard to its end and return the merged counters (``ShardRunner.run``'s shape),
    ``start_s``, the time the shards took to start (a process each, the runtime and the module
    loaded), and ``elapsed_s``, from telling the started shards to run to the last one's end.

    Sources without an end are read by a :class:`.shard_feed.SourceFeeder` actor, which stops
    after ``options.max_events`` records or ``options.duration`` seconds, or on the driver's
    SIGTERM or SIGINT; the shards then finish as one process does. While the shards run, the
    job is recorded for ``mdp list`` and ``mdp status`` (each shard's counters as well as their
    sums) and, with ``options.metrics_port``, served on ``/metrics`` and ``/readyz``."""
    ray = _load_ray()
    started_here = not ray.is_initialized()
    if started_here and address:
        _check_reachable(address)
    if started_here:
        local = {"num_cpus": shards, "include_dashboard": False, "_node_ip_address": "127.0.0.1"}
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a cluster on 127.0.0.1, for this job alone
        ray.init(log_to_driver=False, configure_logging=False, **({"address": address} if address else local))
    try:
        worker = ray.remote(
            num_cpus=1,
            max_restarts=MAX_RETRIES,
            max_task_retries=MAX_RETRIES,
            max_concurrency=2 + len(layout.fed_sources) * FEED_CALLS,  # the run, progress, the feeder's calls
        )(ShardRunner)
        begun = time.monotonic()
        cwd = os.getcwd()
        runners = [worker.remote(source, shard, shards, layout, cwd) for shard in range(shards)]
        _wait(ray, [runner.ready.remote() for runner in runners], runners, None)
        ready = time.monotonic()
        watch = ShardWatch(ray, runners, layout.summed)
        observed = ObservedRun(options, watch)
        try:
            runs = [runner.run.remote() for runner in runners]
            feeder = None
            if layout.fed_sources:
                fed = sorted(layout.fed_sources)  # the feeder is not restarted: see the module docstring
                feeder = ray.remote(num_cpus=0)(SourceFeeder).remote(
                    source, fed, runners, cwd, options.max_events, options.duration
                )
                runs.append(feeder.run.remote())
            watch.start()
            results = _wait(ray, runs, runners + ([feeder] if feeder else []), feeder)
        except JobError as exc:
            watch.stop()
            observed.close(1, str(exc))
            raise
        finished = time.monotonic()
        watch.stop(results)
        observed.close(0)
    finally:
        if started_here:
            ray.shutdown()
    merged = merge(results, layout.summed)
    merged["start_s"], merged["elapsed_s"] = ready - begun, finished - ready
    return merged


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
