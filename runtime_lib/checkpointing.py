"""Checkpoints: consistent snapshots of a running job, and resuming from them exactly.

**Taking one.** Pipeline code runs synchronously between two awaits of the run loop, so at any
await every stateful operator has finished its batch and every source has handed on whole
batches: :meth:`Checkpointer.capture` reads the state of every operator
(``state_snapshot``), the position of every source (``position``) and the counters of every
node there, without stopping anything for longer than that. A *barrier* then goes into every
sink's queue behind what was submitted before the snapshot, and the snapshot is written to disk
(:mod:`.snapshot_files`). A sink worker that reaches the barrier waits for the file, then
commits (``commit_checkpoint``). The next checkpoint is not taken before every sink has
committed the last one, so two sinks are never more than one checkpoint apart.

**Exactly once.** An exactly-once sink (``sink.store``, ``sink.jsonl`` to a file,
``sink.redis_stream``) keeps what it is handed from one checkpoint to the next and commits it
in one transaction with the checkpoint's id (:mod:`.sinks.checkpoint_commits`). The snapshot
also holds what each exactly-once sink was handed since the checkpoint before, and is on disk
before any sink commits. After a crash the job resumes from its newest snapshot: a sink that had
not committed it yet commits those batches first, so every sink stands at that checkpoint,
whatever the sources deliver afterwards. Other sinks get again what they were handed since that
snapshot: at least once.

**Compatibility.** The generated module declares, per stateful node and source, the params its
state depends on (``ctx.saved_state``). A snapshot taken with other values for a node is refused
with the node's config location, unless ``--allow-state-reset NODE`` lets that node start empty.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from .checkpoint_barrier import Barrier
from .errors import JobError
from .log_format import lifecycle
from .snapshot_files import (
    SnapshotFile,
    clear_folder,
    job_folder,
    marshalled,
    read_snapshot,
    remove_snapshots,
    snapshot_files,
    write_snapshot,
)

log = logging.getLogger("mdp.job")
STAT_FIELDS = ("events_in", "events_out", "late", "dropped", "errors", "set_aside")
FINAL_WAIT_S = 30.0


@dataclass
class CheckpointOptions:
    """Where and how often to take checkpoints, and how a job starts and stops with them."""

    dir: str
    every_s: float = 10.0
    fresh: bool = False  # ignore (and remove) the job's snapshots
    allow_state_reset: tuple[str, ...] = ()  # nodes that may start empty when their state does not fit
    on_stop: str = "savepoint"  # savepoint: keep open windows in a last snapshot; flush: emit them


class Checkpointer:
    """Takes the checkpoints of one run and resumes it from the last one (see the module docstring).

    ``ctx`` is the run's :class:`~runtime_lib.runner.LiveContext` with its sources started;
    ``state_nodes`` what the generated ``ctx.saved_state`` lines declared.
    """

    def __init__(self, job: str, options: CheckpointOptions, ctx, state_nodes: dict) -> None:
        self.job = job
        self.options = options
        self.ctx = ctx
        self.state_nodes = state_nodes
        self.folder = job_folder(options.dir, job)
        self.lineage = ""
        self.next_id = 1
        self.last: Barrier | None = None
        self.frozen = False  # set when the run cut a batch short: no snapshot may count what it dropped
        self._after: list[tuple[Barrier, asyncio.Task]] = []  # acknowledge and prune once committed

    # -- starting --------------------------------------------------------------------------------

    def refuse_unsaved(self) -> None:
        """Stop before anything runs when a node's state cannot be saved (a plugin generator)."""
        for node_id, operator in self.ctx.operators:
            if not getattr(operator, "state_saved", True):
                at = self.state_nodes.get(node_id, {}).get("at", "")
                where = f"{at}: " if at else ""
                raise JobError(
                    f"{where}node {node_id!r} keeps state that a checkpoint cannot save (its operator has no "
                    "state_snapshot, or runs a Python generator); run this job without checkpoints"
                )

    def resume(self) -> None:
        """Restore every node from the job's newest snapshot (if any), start the sinks'
        checkpoints (an exactly-once sink one checkpoint behind commits that one's batches first),
        and remove the older snapshots; ``fresh`` removes them all and starts from the beginning."""
        self.refuse_unsaved()
        if self.options.fresh:
            clear_folder(self.folder)
        files = snapshot_files(self.folder)
        pending: dict[str, list] = {}
        resumed: int | None = None  # the checkpoint resumed from; None: the beginning of the input
        if files:
            newest = files[-1]
            self.lineage, resumed = newest.lineage, newest.id
            pending = self._restore(newest)
            self.next_id = newest.id + 1
            remove_snapshots(files[:-1])
        else:
            self.lineage = secrets.token_hex(8)
        for node_id, worker in self.ctx.workers.items():
            worker.sink.start_checkpoints(self.job, self.lineage, resumed, pending.get(node_id, []))
            if worker.sink.exactly_once:
                worker.keep_for_checkpoints()

    def _restore(self, snapshot: SnapshotFile) -> dict:
        """Restore operators, sources and counters from ``snapshot``; return, per exactly-once
        sink, the batches it was handed since the checkpoint before."""
        header, payload = read_snapshot(snapshot.path)
        saved_nodes = header.get("state_nodes", {})
        reset = self._check_fits(saved_nodes)
        states, positions, counters = (
            payload.get("nodes", {}),
            payload.get("sources", {}),
            payload.get("stats", {}),
        )
        for node_id, operator in self.ctx.operators:
            if node_id in states and node_id not in reset:
                operator.restore_state(states[node_id])
        for source_id, source in self.ctx.running.items():
            if positions.get(source_id) is not None and source_id not in reset:
                source.resume_at(positions[source_id])
        for node_id, stats in self.ctx.node_stats.items():
            if node_id in counters and node_id not in self.ctx.workers and node_id not in reset:
                for name, value in zip(STAT_FIELDS, counters[node_id]):
                    setattr(stats, name, dict(value) if name == "set_aside" else value)
        lifecycle(
            "checkpoint",
            f"resumed job {self.job!r} from checkpoint {snapshot.id} ({snapshot.path.name})"
            + (f"; started empty: {', '.join(map(repr, reset))}" if reset else ""),
            checkpoint=snapshot.id,
            resumed=True,
            reset=reset,
        )
        return payload.get("sinks", {})

    def _check_fits(self, saved: dict) -> list[str]:
        """The nodes whose saved state does not fit this config (allowed to reset), or an error."""
        problems, reset = [], []
        for node_id, now in self.state_nodes.items():
            before = saved.get(node_id)
            if before is None or (before.get("type"), before.get("params")) == (
                now.get("type"),
                now.get("params"),
            ):
                continue
            if node_id in self.options.allow_state_reset:
                reset.append(node_id)
                continue
            changed = _changed(before, now)
            at = now.get("at", "")
            problems.append(
                f"{at + ': ' if at else ''}node {node_id!r} ({now.get('type')}): {changed} since the checkpoint, "
                "so its saved state does not fit"
            )
        if problems:
            nodes = " ".join(f"--allow-state-reset {p.split(chr(39))[1]}" for p in problems)
            raise JobError(
                "; ".join(problems)
                + f" (run with {nodes} to start those nodes empty, or --fresh to start over)"
            )
        return reset

    # -- taking checkpoints ---------------------------------------------------------------------

    def capture(self) -> tuple[dict, bytes]:
        """The header and payload bytes of a snapshot of the job as it is now (call between batches)."""
        nodes, summaries = {}, {}
        for node_id, operator in self.ctx.operators:
            nodes[node_id] = operator.state_snapshot()
            summaries[node_id] = {"type": self.ctx.node_stats[node_id].node_type, **operator.state_summary()}
        positions = {source_id: source.position() for source_id, source in self.ctx.running.items()}
        counters = {
            node_id: tuple(dict(getattr(stats, name)) if name == "set_aside" else getattr(stats, name)
                           for name in STAT_FIELDS)  # fmt: skip
            for node_id, stats in self.ctx.node_stats.items()
        }
        header = {
            "job": self.job,
            "taken_at_ns": time.time_ns(),
            "state_nodes": self.state_nodes,
            "nodes": summaries,
            "sources": positions,
        }
        sinks = {node_id: worker.take_since_checkpoint() for node_id, worker in self.ctx.workers.items()}
        payload = {"nodes": nodes, "sources": positions, "stats": counters, "sinks": sinks}
        return header, marshalled(payload)

    def busy(self) -> bool:
        """Whether the last checkpoint is still being committed by some sink."""
        return self.last is not None and not self.last.done.is_set()

    async def take(self, final: str = "") -> Barrier:
        """Take a checkpoint now: capture, queue the barriers, write the file; return the barrier.

        ``final`` says why it is the last one of the run ("savepoint", "end"), for the log; it
        first waits (up to :data:`FINAL_WAIT_S`) for every sink to commit the checkpoint before,
        so that no sink is ever more than one checkpoint behind the newest snapshot.
        """
        if final and self.busy():
            try:
                await asyncio.wait_for(self.last.done.wait(), FINAL_WAIT_S)
            except TimeoutError:
                raise JobError(
                    f"checkpoint {self.last.id} is still not committed by "
                    f"{', '.join(map(repr, self.last.waiting_for()))} after {FINAL_WAIT_S:g} s: no last checkpoint"
                ) from None
        header, payload = self.capture()
        positions = header["sources"]
        header["sources"] = {source_id: _shown(position) for source_id, position in positions.items()}
        checkpoint_id = self.next_id
        self.next_id += 1
        barrier = Barrier(checkpoint_id, self.ctx.workers)
        for worker in self.ctx.workers.values():
            worker.submit_barrier(barrier)  # at once: behind exactly what the snapshot has seen
        started = time.monotonic()
        try:
            written = await asyncio.to_thread(
                write_snapshot, self.folder, self.lineage, checkpoint_id, header, payload
            )
        except BaseException:  # a failed write, or the run stopping meanwhile: the sinks commit later
            barrier.durable.set_result(False)
            raise
        barrier.durable.set_result(True)
        self.last = barrier
        size = written.path.stat().st_size
        kind = {"savepoint": "savepoint", "end": "final checkpoint"}.get(final, "checkpoint")
        lifecycle(
            "checkpoint",
            f"{kind} {checkpoint_id} of job {self.job!r}: {size:,} bytes in "
            f"{(time.monotonic() - started) * 1000:.1f} ms",
            checkpoint=checkpoint_id,
            bytes=size,
            final=final,
        )
        task = asyncio.get_running_loop().create_task(self._after_commit(barrier, positions))
        self._after.append((barrier, task))
        return barrier

    async def _after_commit(self, barrier: Barrier, positions: dict) -> None:
        """Once every sink has committed ``barrier``: acknowledge what consumer-group sources read
        up to its positions, and delete the snapshots before the one before it."""
        await barrier.done.wait()
        for source_id, source in self.ctx.running.items():
            if getattr(source, "group", None) and positions.get(source_id) is not None:
                try:
                    await source.acknowledge_through(positions[source_id])
                except Exception as exc:  # the next checkpoint acknowledges these too
                    log.warning(
                        "source %r: cannot acknowledge through checkpoint %d: %s", source_id, barrier.id, exc
                    )
        old = [f for f in snapshot_files(self.folder) if f.lineage == self.lineage and f.id < barrier.id - 1]
        remove_snapshots(old)

    async def settle(self) -> None:
        """At the end of the run: finish the acknowledgements and clean-up of the checkpoints that
        every sink committed; drop those of checkpoints that will never be committed."""
        for barrier, task in self._after:
            if barrier.done.is_set():
                await task
            else:
                task.cancel()
        self._after = []

    async def run_periodically(self) -> None:
        """Take a checkpoint every ``every_s`` seconds while the last one has been committed."""
        while True:
            await asyncio.sleep(self.options.every_s)
            if self.frozen:
                return
            if self.busy():
                log.info(
                    "checkpoint %d is not committed yet by %s: the next one waits",
                    self.last.id,
                    ", ".join(map(repr, self.last.waiting_for())),
                )
                continue
            try:
                await self.take()
            except JobError as exc:  # a full disk, say: the job goes on, and commits at the next one
                log.error("%s", exc)

    def finished(self) -> None:
        """The job ran to the end of its input and everything is committed: no checkpoint is kept."""
        clear_folder(self.folder)


def _changed(before: dict, now: dict) -> str:
    """What differs between a node's saved and current state params, in words."""
    if before.get("type") != now.get("type"):
        return f"its type changed from {before.get('type')} to {now.get('type')}"
    old, new = before.get("params", {}), now.get("params", {})
    names = sorted(set(old) | set(new))
    return ", ".join(
        f"{name} changed from {_text(old.get(name))} to {_text(new.get(name))}"
        for name in names
        if old.get(name) != new.get(name)
    )


def _shown(value: object) -> object:
    """A value for a message or the snapshot's header: scalars as they are, a position's mapping
    without its bulky parts (a random generator's state), anything else as short text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _shown(v) for k, v in value.items() if not isinstance(v, (list, tuple))}
    return str(value)[:200]


def _text(value: object) -> str:
    return "(none)" if value is None else str(value)
