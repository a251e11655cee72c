"""Plan the generated code: one push function per segment, and why each boundary exists."""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Node, Pipeline


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


def _reason(pipeline: Pipeline, source: Node, target: Node) -> str:
    graph = pipeline.graph
    port = pipeline.port(source.id, target.id)
    if source.splits:
        router = source.chain()[-1].id
        return f"routing: {router!r} sends each record to one of its {graph.out_degree(source.id)} successors"
    if port is not None:
        return f"side output: {source.id!r} sends its {port} records to {target.id!r}"
    fed = len(pipeline.main_successors(source.id))
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


def plan(pipeline: Pipeline) -> Plan:
    """Order the nodes for emission and explain every remaining boundary."""
    nodes = tuple(pipeline.ordered())
    boundaries = tuple(
        Boundary(node.id, succ.id, _reason(pipeline, node, succ))
        for node in nodes
        for succ in pipeline.successors(node.id)
    )
    return Plan(pipeline, nodes, boundaries)
