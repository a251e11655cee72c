"""Plan the generated code: one push function per segment, and why each boundary exists."""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Diagnostic, DiagnosticError
from .ir import Node, Pipeline

MAX_DEPTH = 400
"""How many nodes of the optimised graph a path from a source may hold: each hands its
records to the next with a function call, and Python's stack holds about a thousand."""


@dataclass(frozen=True)
class Boundary:
    """An edge of the optimised graph that stays a function boundary, and the reason."""

    source: str
    target: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """The optimised pipeline in emission order, with its boundaries explained."""

    pipeline: Pipeline
    nodes: tuple[Node, ...]
    boundaries: tuple[Boundary, ...]

    def segments(self) -> list[Node]:
        """Nodes that get a push function: fused loops and stateful operators."""
        return [n for n in self.nodes if n.kind == "operator"]


def _reason(pipeline: Pipeline, source: Node, target: Node, fed: int) -> str:
    """Why the edge ``source -> target`` stays a boundary; ``fed``: how many nodes the main
    output of ``source`` feeds (counted once per node, so a wide fan-out is planned in linear time)."""
    graph = pipeline.graph
    port = pipeline.port(source.id, target.id)
    if source.splits:
        router = source.chain()[-1].id
        return f"routing: {router!r} sends each record to one of its {graph.out_degree(source.id)} successors"
    if port is not None:
        return f"side output: {source.id!r} sends its {port} records to {target.id!r}"
    if fed > 1:
        return f"fan-out: {source.id!r} feeds {fed} nodes, each gets the batch"
    if graph.in_degree(target.id) > 1:
        return f"union: {target.id!r} has {graph.in_degree(target.id)} inputs"
    if source.kind == "provider":
        return f"source output: {source.id!r} hands over batches asynchronously"
    if target.kind == "sink":
        return f"sink input: {target.id!r} takes batches through a bounded queue"
    if not target.stateless:
        return f"pipeline breaker: {target.id!r} ({target.type}) keeps state across batches"
    return f"pipeline breaker: {source.id!r} ({source.type}) keeps state across batches"


def _check_depth(pipeline: Pipeline, nodes: tuple[Node, ...]) -> None:
    """Refuse a pipeline with a path longer than :data:`MAX_DEPTH`, at its first node too deep."""
    depth: dict[str, int] = {}
    for node in nodes:  # in topological order: every predecessor is measured first
        depth[node.id] = 1 + max((depth[p] for p in pipeline.graph.predecessors(node.id)), default=0)
        if depth[node.id] > MAX_DEPTH:
            hint = (
                "each stateful operator, and each fused loop of up to 32 maps and filters, calls the next; "
                "split the pipeline into several jobs"
            )
            message = f"node {node.id!r} is more than {MAX_DEPTH} nodes from its source after fusion"
            raise DiagnosticError([Diagnostic(node.span, message, hint)])


def plan(pipeline: Pipeline) -> Plan:
    """Order the nodes for emission and explain every remaining boundary.

    A path too long for the generated push functions to call along is refused.
    """
    nodes = tuple(pipeline.ordered())
    _check_depth(pipeline, nodes)
    boundaries = []
    for node in nodes:
        fed = len(pipeline.main_successors(node.id))
        for succ in pipeline.successors(node.id):
            boundaries.append(Boundary(node.id, succ.id, _reason(pipeline, node, succ, fed)))
    return Plan(pipeline, nodes, tuple(boundaries))
