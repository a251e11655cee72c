"""Where a plan splits into shards: the exchange, and which nodes run once and which per shard.

A job runs on N shards when every record of a key reaches the one shard that owns the key,
for every stateful operator that keeps per-key state. The exchange is the first stateful
operator with a key (``resample_ohlc``, ``window``, ``deduplicate``, a ``throttle`` with a key):
its input is split by ``stable_hash(key) % N``. Nodes downstream of it run per shard, on that
shard's keys; the others (the sources and what comes before the exchange, and the branches that
never reach it) run once. Every keyed stateful operator after the exchange must group by the
exchange's key fields or more, so that a key of its own never spans two shards.

A plan that cannot be split this way is an error at the node that prevents it: no keyed
stateful operator, an operator whose key uses other fields, a throttle without a key that drops
records (its rate is for the whole stream), a plugin operator (its state is unknown), or a
source that never ends whose records cannot be sent to the shards by symbol as they are read.

A replay whose ticks reach the exchange with their symbol unchanged (through filters and maps
that keep it) is split as it is read: every shard reads the file but makes records of its own
symbols only. A source that never ends (IB, a Redis stream, endless synthetic ticks) is read
by one feeder, which sends each record to its symbol's shard.
"""

from __future__ import annotations

from runtime_lib.shard_layout import ShardLayout

from .diagnostics import Diagnostic, DiagnosticError
from .expressions import parse_expression
from .ir import Node
from .plan import Plan

KEYED = {"operator.resample_ohlc", "operator.window", "operator.deduplicate", "operator.throttle"}
SYMBOL = "symbol"  # the field a replay's ticks can be split by as they are read
BATCHING = {"operator.buffer"}  # holds records for a while only: the same records per shard


def key_text(node: Node) -> str | None:
    """The key expression of a keyed stateful node (None for a throttle without a key)."""
    if node.type in ("operator.window", "operator.throttle"):
        return node.params.key
    return node.params.key_text()


def shard_plan(plan: Plan) -> ShardLayout:
    """The :class:`ShardLayout` of ``plan``, or a :class:`DiagnosticError` saying why it has none."""
    pipeline = plan.pipeline
    problems = []
    ordered = [n for n in pipeline.ordered() if n.kind == "operator" and not n.stateless]
    keyed = [n for n in ordered if n.type in KEYED and key_text(n) is not None]
    for node in ordered:
        if node.type in KEYED or node.type in BATCHING:
            if (
                node.type == "operator.throttle"
                and key_text(node) is None
                and node.params.on_excess == "drop"
            ):
                problems.append(
                    Diagnostic(
                        pipeline.span(node),
                        f"node {node.id!r} limits the rate of the whole stream and drops the excess: "
                        "on several shards each would have that rate",
                        "give it a key, or on_excess: delay, or run on one process",
                    )
                )
            continue
        problems.append(
            Diagnostic(
                pipeline.span(node),
                f"node {node.id!r} ({node.type}) keeps state the ray engine cannot split by key",
                "run this job on one process (the streaming engine)",
            )
        )
    if not keyed:
        first = ordered[0] if ordered else pipeline.ordered()[0]
        problems.append(
            Diagnostic(
                pipeline.span(first),
                "no stateful operator with a key: nothing says how to split the records into shards",
                "shard a job that groups by a key (resample_ohlc, window, deduplicate, throttle with a key)",
            )
        )
    if problems:
        raise DiagnosticError(problems)
    exchange = keyed[0]
    fields = set(parse_expression(key_text(exchange)).field_names())
    for node in keyed[1:]:
        own = set(parse_expression(key_text(node)).field_names())
        if not fields <= own:
            problems.append(
                Diagnostic(
                    pipeline.span(node, "params", "key"),
                    f"node {node.id!r} groups by {key_text(node)!r}, which does not hold every field of the "
                    f"shard key {key_text(exchange)!r} of {exchange.id!r}: one of its keys would span shards",
                    f"group by {', '.join(sorted(fields))} too, or run on one process",
                )
            )
    if problems:
        raise DiagnosticError(problems)
    paths, fed = {}, set()
    for source in (n for n in pipeline.ordered() if n.kind == "provider"):
        path = _path_to(pipeline, source, exchange.id) if key_text(exchange) == SYMBOL else None
        if _bounded(source):
            if path is not None and source.type == "provider.replay":
                paths[source.id] = path
        elif path is None or getattr(source.params, "group", None) is not None:
            problems.append(_unfeedable(pipeline, source, exchange, path is None))
        else:
            paths[source.id] = path
            fed.add(source.id)
    if problems:
        raise DiagnosticError(problems)
    feeding = {
        n.id
        for n in pipeline.ordered()
        if n.kind == "provider" and exchange.id in _downstream(pipeline, n.id)
    }
    return ShardLayout(
        exchange.id,
        frozenset(_downstream(pipeline, exchange.id)),
        read_split=frozenset(node_id for path in paths.values() for node_id in path),
        shared_sources=frozenset(paths) - fed,
        fed_sources=frozenset(fed),
        exchange_filters=not feeding <= set(paths),
    )


def _path_to(pipeline, source: Node, exchange: str) -> list[str] | None:
    """The nodes from ``source`` up to ``exchange`` (fused members included) when every record of
    the source goes there with its symbol unchanged, through nodes that hold no records; else None."""
    path, node = [source.id], source
    while True:
        successors = list(pipeline.successors(node.id))
        if len(successors) != 1:
            return None
        node = successors[0]
        if node.id == exchange:
            return path
        if not node.stateless or not all(_keeps_symbol(member) for member in node.chain()):
            return None
        path += [node.id, *(member.id for member in node.chain())]


def _keeps_symbol(node: Node) -> bool:
    """Whether a stateless node hands on each record it keeps with its ``symbol`` as it was."""
    params = node.params
    if node.type == "operator.filter":
        return True
    if node.type == "operator.map":
        return (
            params.expr is None
            and params.fn is None
            and SYMBOL not in (params.fields or {})
            and (params.select is None or SYMBOL in params.select)
        )
    if node.type == "operator.hash_partition":
        return params.field != SYMBOL
    return False


def _bounded(node: Node) -> bool:
    """Whether a source ends by itself: a replay, or synthetic ticks with a count."""
    return node.type == "provider.replay" or (
        node.type == "provider.synthetic" and node.params.count is not None
    )


def _unfeedable(pipeline, node: Node, exchange: Node, unsplit: bool) -> Diagnostic:
    """An error for a source without an end that the ray engine cannot feed to the shards."""
    if unsplit:
        why = (
            f"the ray engine feeds such a source to the shards by symbol, which needs its records to reach "
            f"{exchange.id!r} with their symbol unchanged, through filters and maps only, and "
            f"{exchange.id!r} to group by symbol"
        )
    else:
        why = "a consumer group acknowledges what the sinks wrote, which on shards happens in other processes"
    return Diagnostic(
        pipeline.span(node),
        f"source {node.id!r} ({node.type}) has no end, and {why}",
        "run it on one process (the streaming engine)",
    )


def _downstream(pipeline, node_id: str) -> set[str]:
    """``node_id`` and every node it feeds, directly or not."""
    found, todo = set(), [node_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            found.update(member.id for member in pipeline.node(current).chain())  # a fused loop's members
            todo.extend(n.id for n in pipeline.successors(current))
    return found


def explain_shards(plan: Plan, shards: int) -> list[str]:
    """Lines for ``mdp explain --engine ray``: the exchange and where each node runs, and why."""
    split = shard_plan(plan)
    key = key_text(plan.pipeline.node(split.exchange))
    lines = [f"shards ({shards}, split at {split.exchange!r} by stable_hash({key}) % {shards}):"]
    for node in plan.pipeline.ordered():
        if node.id in split.shared_sources:
            lines.append(
                f"  split      {node.id!r} ({node.type}): every shard reads it, keeping its own symbols"
            )
        elif node.id in split.fed_sources:
            lines.append(
                f"  feeder     {node.id!r} ({node.type}): read once, each record sent to its symbol's shard"
            )
        elif node.id in split.read_split:
            lines.append(f"  split      {node.id!r} ({node.type}): the shard's own symbols, as read")
        elif split.runs_once(node.id):
            lines.append(f"  once       {node.id!r} ({node.type}): before the exchange, or not fed by it")
        else:
            lines.append(f"  per shard  {node.id!r} ({node.type}): the shard's keys only")
    return lines
