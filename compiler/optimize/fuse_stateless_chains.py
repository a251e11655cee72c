"""Fuse each linear chain of stateless operators into one node, compiled as one loop."""

from __future__ import annotations

import networkx as nx

from ..ir import Node, Pipeline

MAX_FUSED_MEMBERS = 32
"""A longer chain is fused into several loops, one after the other: the generated loop
counts each member's records with an expression as long as the member's place in the chain."""


def _fusable(graph: nx.DiGraph, upstream: str, downstream: str) -> bool:
    up, down = graph.nodes[upstream]["node"], graph.nodes[downstream]["node"]
    return (
        up.stateless
        and down.stateless
        and not up.splits
        and graph.edges[upstream, downstream].get("port") is None
        and graph.out_degree(upstream) == 1
        and graph.in_degree(downstream) == 1
    )


def _full(graph: nx.DiGraph, node_id: str) -> bool:
    return len(graph.nodes[node_id]["node"].chain()) >= MAX_FUSED_MEMBERS


def fuse_stateless_chains(pipeline: Pipeline) -> Pipeline:
    """Replace every chain a -> b -> ... of stateless nodes (no fan-in or fan-out inside the
    chain) by one node whose ``members`` are the chain, keeping the first member's id.

    A router can only end a chain: its records go to several successors. A chain longer than
    :data:`MAX_FUSED_MEMBERS` is cut into consecutive fused nodes of at most that many members.
    """
    graph = pipeline.graph.copy()
    for node in pipeline.ordered():
        if node.id not in graph or not node.stateless:
            continue
        preds = list(graph.predecessors(node.id))
        if len(preds) == 1 and _fusable(graph, preds[0], node.id) and not _full(graph, preds[0]):
            continue  # not the head of its chain
        chain = [node]
        while graph.out_degree(chain[-1].id) == 1 and len(chain) < MAX_FUSED_MEMBERS:
            (nxt,) = graph.successors(chain[-1].id)
            if not _fusable(graph, chain[-1].id, nxt):
                break
            chain.append(graph.nodes[nxt]["node"])
        if len(chain) == 1:
            continue
        members = tuple(m for part in chain for m in part.chain())
        fused = Node(
            node.id,
            "fused",
            node.span,
            node.position,
            schema=chain[-1].schema,
            input_schema=node.input_schema,
            members=members,
        )
        tail_edges = [(fused.id, s, graph.edges[chain[-1].id, s]) for s in graph.successors(chain[-1].id)]
        graph.remove_nodes_from(m.id for m in chain[1:])
        graph.remove_edges_from(list(graph.out_edges(node.id)))
        graph.nodes[node.id]["node"] = fused
        graph.add_edges_from(tail_edges)
    return pipeline.evolve(graph=graph)
