"""Graph checks and schema propagation: every problem is collected, none stops the others."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from .diagnostics import Diagnostic
from .ir import Node, Pipeline
from .schema import Schema
from .suggest import did_you_mean

MAX_CYCLES_REPORTED = 5


def _edge_span(pipeline: Pipeline, source: str, target: str):
    return pipeline.graph.edges[source, target]["span"]


def _cycles(pipeline: Pipeline) -> list[Diagnostic]:
    found = []
    cycles = sorted(nx.simple_cycles(pipeline.graph), key=lambda c: sorted(pipeline.node(n).order for n in c))
    for cycle in cycles[:MAX_CYCLES_REPORTED]:
        start = min(range(len(cycle)), key=lambda i: pipeline.node(cycle[i]).order)
        cycle = cycle[start:] + cycle[:start]
        path = " -> ".join(repr(n) for n in cycle + [cycle[0]])
        found.append(Diagnostic(_edge_span(pipeline, cycle[-1], cycle[0]), f"cycle: {path}",
                                "a pipeline is a DAG: remove one of these edges"))
    return found


def _structure(pipeline: Pipeline) -> list[Diagnostic]:
    graph, found = pipeline.graph, []
    nodes = sorted((pipeline.node(n) for n in graph), key=lambda n: n.order)
    sources = [n.id for n in nodes if n.kind == "provider"]
    if not sources:
        found.append(Diagnostic(nodes[0].span, "the pipeline has no source (a provider.* node)"))
    if not any(n.kind == "sink" for n in nodes):
        found.append(Diagnostic(nodes[0].span, "the pipeline has no sink (a sink.* node)",
                                "add a sink such as sink.store or sink.jsonl, and an edge to it"))
    reached = set(sources).union(*(nx.descendants(graph, s) for s in sources))
    for node in nodes:
        if node.kind == "provider":
            for pred in pipeline.predecessors(node.id):
                found.append(Diagnostic(_edge_span(pipeline, pred.id, node.id),
                                        f"source {node.id!r} cannot have inputs"))
        elif node.kind == "sink":
            for succ in pipeline.successors(node.id):
                found.append(Diagnostic(_edge_span(pipeline, node.id, succ.id),
                                        f"sink {node.id!r} cannot have outputs"))
        if node.kind != "provider" and graph.in_degree(node.id) == 0:
            found.append(Diagnostic(node.span, f"node {node.id!r} has no input",
                                    f"add an edge such as [<source id>, {node.id}]"))
        elif node.id not in reached and sources:
            found.append(Diagnostic(node.span, f"no source reaches node {node.id!r}"))
    return found


def _field_problems(pipeline: Pipeline, node: Node, upstream: Schema, feeders: str) -> list[Diagnostic]:
    doc, base = pipeline.doc, ("dag", "nodes", node.order)
    listing = f"fields of {feeders}: {', '.join(upstream.names())}"

    def unknown(name: str, span) -> Diagnostic:
        hint = did_you_mean(name, upstream.names())
        return Diagnostic(span, f"unknown field {name!r}", f"{hint} ({listing})" if hint else listing)

    found = []
    for param_path, expr in node.expressions.items():
        for ref in expr.fields:
            if not upstream.has(ref.name):
                span = doc.expression_span(base + ("params",) + param_path, ref.col, ref.end_col)
                found.append(unknown(ref.name, span))
    for rel_path, name in node.component.requires(node.params):
        if not upstream.has(name):
            found.append(unknown(name, doc.span(base + rel_path)))
    return found


def _schemas(pipeline: Pipeline) -> tuple[Pipeline, list[Diagnostic]]:
    """Derive each node's output schema in topological order, checking the fields it reads."""
    graph, found = pipeline.graph.copy(), []
    for node in pipeline.ordered():
        preds = [graph.nodes[p]["node"] for p in sorted(graph.predecessors(node.id))]
        if node.component is None or any(p.schema is None for p in preds):
            continue
        upstream = None
        if node.kind != "provider":
            if not preds:
                continue
            upstream = preds[0].schema
            for pred in preds[1:]:
                upstream = upstream.merge(pred.schema)
            feeders = " and ".join(repr(p.id) for p in sorted(preds, key=lambda p: p.order))
            problems = _field_problems(pipeline, node, upstream, f"node {feeders}")
            found.extend(problems)
            if problems:
                continue
        schema = node.component.output(node.params, upstream)
        graph.nodes[node.id]["node"] = replace(node, schema=schema)
    return pipeline.evolve(graph=graph), found


def _acyclic_part(pipeline: Pipeline) -> Pipeline:
    """The pipeline without the edges that close cycles, so the rest can still be checked."""
    graph = pipeline.graph.copy()
    while not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        graph.remove_edge(*cycle[-1][:2])
    return pipeline.evolve(graph=graph)


def validate(pipeline: Pipeline) -> tuple[Pipeline, list[Diagnostic]]:
    """Check the graph and every field reference; return the pipeline with schemas, and problems.

    Where the graph has cycles (an error already), fields are still checked on the rest of it.
    """
    found = _cycles(pipeline) + _structure(pipeline)
    checked, problems = _schemas(_acyclic_part(pipeline))
    return checked, found + problems
