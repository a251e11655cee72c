"""What a generated module's ``build(ctx)`` talks to: node construction and wiring."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .stats import NodeStats

log = logging.getLogger("mdp.job")
Push = Callable[[list[dict]], None]
LOGGED_FAILURES_PER_NODE = 10


class BuildContext:
    """Records the nodes a generated ``build`` creates and where their outputs go.

    Subclasses decide what a source and a sink are: :class:`LocalContext` feeds given records
    and collects sink input in lists; the live runner starts real sources and sink workers.
    """

    def __init__(self) -> None:
        self.node_stats: dict[str, NodeStats] = {}
        self.sources: dict[str, tuple[str, type, dict]] = {}
        self.operators: list[tuple[str, object]] = []
        self.outputs: dict[str, Push] = {}
        self.state_nodes: dict[str, dict] = {}  # what each node's checkpointed state depends on

    def stats(self, node_id: str, node_type: str) -> NodeStats:
        """The counters of a node, created on first use."""
        if node_id not in self.node_stats:
            self.node_stats[node_id] = NodeStats(node_id, node_type)
        return self.node_stats[node_id]

    def source(self, node_id: str, node_type: str, cls: type, **params) -> None:
        """Declare a source; it is started (or replaced by given records) when the job runs."""
        self.stats(node_id, node_type)
        self.sources[node_id] = (node_type, cls, params)

    def saved_state(self, node_id: str, at: str, params: dict) -> None:
        """Declare that a checkpoint saves node ``node_id``'s state (defined at ``at`` in the config),
        and the params it depends on: a snapshot taken with other values is refused."""
        self.state_nodes[node_id] = {"type": self.node_stats[node_id].node_type, "at": at, "params": params}

    def operator(self, node_id: str, node_type: str, cls: type, **params):
        """Create a stateful operator with its counters; operators are created in topological order."""
        instance = cls(node_id, self.stats(node_id, node_type), **params)
        self.operators.append((node_id, instance))
        return instance

    def sink(self, node_id: str, node_type: str, cls: type, **params) -> Push:
        """Return the function that hands a batch to the sink."""
        raise NotImplementedError

    def connect(self, node_id: str, push: Push) -> None:
        """Send the output of a source or stateful operator to ``push``.

        An operator's ``push`` gets what each timer and the end of the stream release, even
        when that is nothing, so that it also hands on the operator's side outputs.
        """
        self.outputs[node_id] = push

    def failures(self, node_ids: tuple[str, ...]) -> Callable[[dict, Exception], None]:
        """A handler for records whose expressions raised inside a fused loop over ``node_ids``.

        The record is set aside: counted as an error of the chain's first node and logged (the
        first few per node), never silently lost.
        """
        stats = self.node_stats[node_ids[0]]
        chain = " -> ".join(repr(n) for n in node_ids)

        def fail(record: dict, error: Exception) -> None:
            stats.errors += 1
            if stats.errors <= LOGGED_FAILURES_PER_NODE:
                log.warning(
                    "record set aside in %s: %s: %s; record: %.300r",
                    chain,
                    type(error).__name__,
                    error,
                    record,
                )

        return fail

    def flush_operators(self) -> None:
        """End of stream: flush every operator in topological order, pushing what it releases."""
        for node_id, operator in self.operators:
            released = operator.flush()
            if node_id in self.outputs:
                self.outputs[node_id](released)

    def fire_timers(self, now_ns: int, live: bool = True) -> None:
        """Let every operator release what processing time ``now_ns`` closes.

        Without a live source (``live`` False) only operators that run on processing time
        (``processing_time``) are asked; event-time timers such as idle timeouts are for live feeds.
        """
        for node_id, operator in self.operators:
            if not live and not getattr(operator, "processing_time", False):
                continue
            released = operator.on_timer(now_ns)
            if node_id in self.outputs:
                self.outputs[node_id](released)


class LocalContext(BuildContext):
    """Runs in-process: sinks collect their input in lists, sources are given records."""

    def __init__(self) -> None:
        super().__init__()
        self.collected: dict[str, list[dict]] = {}

    def sink(self, node_id: str, node_type: str, cls: type, **params) -> Push:
        """Collect the sink's input instead of writing it."""
        stats = self.stats(node_id, node_type)
        rows = self.collected.setdefault(node_id, [])

        def collect(batch: list[dict]) -> None:
            stats.add(len(batch), len(batch))
            rows.extend(batch)

        return collect


def run_local_job(build: Callable[[BuildContext], None], inputs: dict, batch_size: int = 1024) -> dict:
    """Run a generated pipeline synchronously on given records and return each sink's input.

    ``inputs`` maps source ids to iterables of records; sources not named produce nothing. Each
    source's records are pushed in batches of ``batch_size``, one source after the other, then
    every open window is flushed. The result maps each sink id to the records it received.
    """
    ctx = LocalContext()
    build(ctx)
    unknown = sorted(set(inputs) - set(ctx.sources))
    if unknown:
        raise ValueError(
            f"not a source of this job: {', '.join(unknown)} (sources: {', '.join(ctx.sources)})"
        )
    for source_id in ctx.sources:
        if source_id not in inputs:
            continue
        records = inputs[source_id] if isinstance(inputs[source_id], list) else list(inputs[source_id])
        push, stats = ctx.outputs[source_id], ctx.node_stats[source_id]
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            stats.add(0, len(batch))
            push(batch)
    ctx.flush_operators()
    return ctx.collected
