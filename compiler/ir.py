"""The pipeline IR: nodes with their params, schemas and source spans, on a networkx graph."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx

from .components import Component
from .diagnostics import Diagnostic
from .expressions import Expression
from .load.document import Document, Span
from .schema import Schema


@dataclass(frozen=True)
class Node:
    """One pipeline node, or a fused chain of stateless nodes (``members`` non-empty).

    ``component`` is None for a node whose type or params were invalid: it stays in the graph
    so that edges to it still resolve, but nothing downstream of it is checked further.
    """

    id: str
    type: str
    span: Span
    order: int
    component: Component | None = None
    params: object | None = None
    expressions: dict[tuple, Expression] = field(default_factory=dict)
    schema: Schema | None = None
    input_schema: Schema | None = None
    members: tuple[Node, ...] = ()

    @property
    def kind(self) -> str:
        """``provider``, ``operator`` or ``sink``."""
        return self.type.split(".", 1)[0]

    @property
    def stateless(self) -> bool:
        """Whether this node is inlined into a fused loop."""
        return bool(self.members) or (self.component is not None and self.component.stateless)

    @property
    def location(self) -> str:
        """``file:line`` of the node in its config, for generated-code comments."""
        return f"{self.span.file}:{self.span.line}"

    @property
    def splits(self) -> bool:
        """Whether this node (or a fused chain's last member) routes each record to one successor."""
        last = self.chain()[-1]
        return last.component is not None and last.component.splits

    def chain(self) -> tuple[Node, ...]:
        """The stateless nodes this node stands for, in order (itself if not fused)."""
        return self.members or (self,)


@dataclass(frozen=True)
class Pipeline:
    """A whole job: its graph of :class:`Node` (attribute ``node``) and what the compiler noted."""

    name: str
    config_path: str
    config_sha256: str
    graph: nx.DiGraph
    doc: Document = field(compare=False, repr=False)
    warnings: tuple[Diagnostic, ...] = ()
    complete: bool = True  # False when built from a config whose shape did not validate
    run_defaults: object | None = None  # the config's RunSpec: defaults of the generated module's run options

    def node(self, node_id: str) -> Node:
        """The node with this id."""
        return self.graph.nodes[node_id]["node"]

    def ordered(self) -> list[Node]:
        """Nodes in topological order, ties broken by their order in the config."""
        order = {n: self.node(n).order for n in self.graph}
        return [self.node(n) for n in nx.lexicographical_topological_sort(self.graph, key=order.get)]

    def successors(self, node_id: str) -> list[Node]:
        """Direct successors, in config order."""
        return sorted((self.node(n) for n in self.graph.successors(node_id)), key=lambda n: n.order)

    def port(self, source: str, target: str) -> str | None:
        """The named output port an edge leaves from (None: the main output)."""
        return self.graph.edges[source, target].get("port")

    def main_successors(self, node_id: str) -> list[Node]:
        """Successors fed by the main output, in config order."""
        return [n for n in self.successors(node_id) if self.port(node_id, n.id) is None]

    def port_successors(self, node_id: str) -> list[tuple[str, Node]]:
        """(port, successor) for each edge from a named output port, in config order."""
        return [(self.port(node_id, n.id), n) for n in self.successors(node_id) if self.port(node_id, n.id)]

    def predecessors(self, node_id: str) -> list[Node]:
        """Direct predecessors, in config order."""
        return sorted((self.node(n) for n in self.graph.predecessors(node_id)), key=lambda n: n.order)

    def evolve(self, **changes) -> Pipeline:
        """A copy with some fields replaced (passes never modify their input)."""
        return replace(self, **changes)
