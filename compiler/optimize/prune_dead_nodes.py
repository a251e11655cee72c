"""Remove nodes whose output reaches no sink, with a warning for each."""

from __future__ import annotations

import networkx as nx

from ..diagnostics import Diagnostic
from ..ir import Pipeline


def prune_dead_nodes(pipeline: Pipeline) -> Pipeline:
    """Drop every node from which no sink can be reached, and warn about it.

    Such a node's work would be thrown away; a source that feeds only dead nodes is dropped too.
    """
    graph = pipeline.graph
    sinks = [n for n in graph if pipeline.node(n).kind == "sink"]
    alive = set().union(*nx.bfs_layers(graph.reverse(copy=False), sinks))  # one walk back from all sinks
    dead = [node for node in pipeline.in_config_order() if node.id not in alive]
    if not dead:
        return pipeline
    warnings = tuple(
        Diagnostic(
            node.span,
            f"node {node.id!r} reaches no sink; it is left out of the generated code",
            "connect it to a sink, or delete it",
            severity="warning",
        )
        for node in dead
    )
    return pipeline.evolve(graph=graph.subgraph(alive).copy(), warnings=pipeline.warnings + warnings)
