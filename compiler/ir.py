"""The pipeline IR: nodes with their params, schemas and source spans, on a networkx graph."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx

from .components import Component
from .diagnostics import Diagnostic
from .expressions import Expression
from .load.document import Document, Path, Span
from .schema import Schema


def node_path(position: int, *rel: str | int) -> Path:
    """The path in the config of the node at ``position`` in ``dag.nodes``, or of ``rel`` inside it.

    >>> node_path(2, "params", "where")
    ('dag', 'nodes', 2, 'params', 'where')
    """
    return ("dag", "nodes", position, *rel)


@dataclass(frozen=True)
class Node:
    """One pipeline node, or a fused chain of stateless nodes (``members`` non-empty).

    ``position`` is the node's place in the config's ``dag.nodes`` (a fused chain takes its
    first member's); ties in every order the compiler derives are broken by it.
    ``component`` is None for a node whose type or params were invalid: it stays in the graph
    so that edges to it still resolve, but nothing downstream of it is checked further.
    """

    id: str
    type: str
    span: Span
    position: int
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
    def path(self) -> Path:
        """The node's path in the config document: ``("dag", "nodes", position)``."""
        return node_path(self.position)

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


def by_position(node: Node) -> int:
    """Sort key: a node's position in the config."""
    return node.position


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
    mode: str = "dag"  # the section the job was written in: dag, or classic (lowered to the DAG form)

    def node(self, node_id: str) -> Node:
        """The node with this id."""
        return self.graph.nodes[node_id]["node"]

    def span(self, node: Node, *rel: str | int, prefer_key: bool = False) -> Span:
        """Where ``rel`` inside ``node`` (``"params", "where"``) is in the config, else its nearest part."""
        return self.doc.span(node.path + rel, prefer_key=prefer_key)

    def expression_span(self, node: Node, rel: Path, col: int, end_col: int) -> Span:
        """Where characters ``col:end_col`` of the string at ``rel`` inside ``node`` are in the config."""
        return self.doc.expression_span(node.path + tuple(rel), col, end_col)

    def in_config_order(self) -> list[Node]:
        """Every node, in the order of the config's ``dag.nodes``."""
        return sorted((self.node(n) for n in self.graph), key=by_position)

    def ordered(self) -> list[Node]:
        """Nodes in topological order, ties broken by their position in the config."""
        position = {n: self.node(n).position for n in self.graph}
        return [self.node(n) for n in nx.lexicographical_topological_sort(self.graph, key=position.get)]

    def successors(self, node_id: str) -> list[Node]:
        """Direct successors, in config order."""
        return sorted((self.node(n) for n in self.graph.successors(node_id)), key=by_position)

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
        return sorted((self.node(n) for n in self.graph.predecessors(node_id)), key=by_position)

    def evolve(self, **changes) -> Pipeline:
        """A copy with some fields replaced (passes never modify their input)."""
        return replace(self, **changes)
