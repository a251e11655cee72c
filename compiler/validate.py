"""Graph checks and schema propagation: every problem is collected, none stops the others."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from itertools import islice

import networkx as nx

from .components.base import Feeder, Problem
from .diagnostics import Diagnostic
from .ir import Node, Pipeline, by_position
from .schema import Schema
from .suggest import did_you_mean

MAX_CYCLES_REPORTED = 5
MAX_CYCLES_EXAMINED = 1_000  # a dense graph has more simple cycles than could ever be listed
MAX_NODES = 10_000  # a bound on the work a config can ask for; 5,000 nodes compile in seconds
MAX_SINK_EDGES_SHOWN = 5  # edges a missing-sink hint spells out
PLAIN_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _edge_span(pipeline: Pipeline, source: str, target: str):
    return pipeline.graph.edges[source, target]["span"]


def _cycles(pipeline: Pipeline) -> list[Diagnostic]:
    found = []
    examined = islice(nx.simple_cycles(pipeline.graph), MAX_CYCLES_EXAMINED)
    cycles = sorted(examined, key=lambda c: sorted(pipeline.node(n).position for n in c))
    for cycle in cycles[:MAX_CYCLES_REPORTED]:
        start = min(range(len(cycle)), key=lambda i: pipeline.node(cycle[i]).position)
        cycle = cycle[start:] + cycle[:start]
        path = " -> ".join(repr(n) for n in cycle + [cycle[0]])
        found.append(
            Diagnostic(
                _edge_span(pipeline, cycle[-1], cycle[0]),
                f"cycle: {path}",
                "a pipeline is a DAG: remove one of these edges",
            )
        )
    return found


def _size(pipeline: Pipeline) -> list[Diagnostic]:
    """A pipeline of more than :data:`MAX_NODES` nodes is refused, at the first node too many."""
    if len(pipeline.graph) <= MAX_NODES:
        return []
    node = pipeline.in_config_order()[MAX_NODES]
    message = f"the pipeline has {len(pipeline.graph):,} nodes; the limit is {MAX_NODES:,}"
    return [Diagnostic(node.span, message, "split it into several pipelines")]


def _listed_edge_targets(pipeline: Pipeline) -> set[str]:
    """Node ids the config names as an edge's target, valid or not, and for a target that is
    no node, the node it was probably meant to be (its edge error already says so)."""
    edges = pipeline.doc.data.get("dag", {}).get("edges") or []
    named = {
        edge[1] for edge in edges if isinstance(edge, list) and len(edge) == 2 and isinstance(edge[1], str)
    }
    meant = [
        difflib.get_close_matches(name, list(pipeline.graph), n=1, cutoff=0.6)
        for name in named - set(pipeline.graph)
    ]
    return named | {match[0] for match in meant if match}


def _yaml_id(node_id: str) -> str:
    """A node id as it can be written in a YAML flow list: plain where that reads back the same."""
    return node_id if PLAIN_ID.match(node_id) else json.dumps(node_id)


def _sink_hint(pipeline: Pipeline) -> str:
    """What to add to a pipeline without a sink: a node, and an edge from each node without outputs."""
    ends = [n.id for n in pipeline.in_config_order() if pipeline.graph.out_degree(n.id) == 0]
    if not ends:
        return "add a sink such as sink.store or sink.jsonl, and an edge to it"
    sink = next(
        name for name in ("out", *(f"out_{i}" for i in range(1, len(ends) + 2))) if name not in pipeline.graph
    )
    edges = [f"[{_yaml_id(end)}, {sink}]" for end in ends[:MAX_SINK_EDGES_SHOWN]]
    listed = edges[0] if len(edges) == 1 else ", ".join(edges[:-1]) + " and " + edges[-1]
    more = len(ends) - len(edges)
    rest = f", and one from each of the {more} other nodes without outputs" if more else ""
    return (
        f"add a sink node such as {{id: {sink}, type: sink.null}} and the edge{'s' * (len(ends) > 1)} "
        f"{listed}{rest} (sink.jsonl writes the records to a file, sink.store writes bars to SQLite)"
    )


def _structure(pipeline: Pipeline) -> list[Diagnostic]:
    graph, found = pipeline.graph, []
    nodes = pipeline.in_config_order()
    sources = [n.id for n in nodes if n.kind == "provider"]
    nodes_key = pipeline.doc.span(("dag", "nodes"), prefer_key=True)
    if not sources:
        found.append(
            Diagnostic(
                nodes_key,
                "the pipeline has no source (a provider.* node)",
                "add a source such as provider.replay or provider.synthetic",
            )
        )
    if not any(n.kind == "sink" for n in nodes):
        found.append(Diagnostic(nodes_key, "the pipeline has no sink (a sink.* node)", _sink_hint(pipeline)))
    listed_targets = _listed_edge_targets(pipeline)
    reached = set().union(*nx.bfs_layers(graph, sources))  # one walk from all sources at once
    for node in nodes:
        if node.kind == "provider":
            for pred in pipeline.predecessors(node.id):
                found.append(
                    Diagnostic(
                        _edge_span(pipeline, pred.id, node.id), f"source {node.id!r} cannot have inputs"
                    )
                )
        elif node.kind == "sink":
            for succ in pipeline.successors(node.id):
                found.append(
                    Diagnostic(
                        _edge_span(pipeline, node.id, succ.id), f"sink {node.id!r} cannot have outputs"
                    )
                )
        if node.kind != "provider" and graph.in_degree(node.id) == 0:
            if node.id in listed_targets:
                continue  # its edge was dropped for a reason already reported
            found.append(
                Diagnostic(
                    node.span,
                    f"node {node.id!r} has no input",
                    f"add an edge such as [<source id>, {node.id}]",
                )
            )
        elif node.id not in reached and sources:
            found.append(Diagnostic(node.span, f"no source reaches node {node.id!r}"))
    return found


def _field_problems(
    pipeline: Pipeline, node: Node, upstream: Schema, feeders: str, explained: frozenset[tuple] = frozenset()
) -> list[Diagnostic]:
    """The fields the node reads that its input lacks; ``explained`` holds the param paths whose
    expressions the component's own check already blamed, with a better hint."""
    listing = f"fields of {feeders}: {', '.join(upstream.names())}"

    def unknown(name: str, span) -> Diagnostic:
        hint = did_you_mean(name, upstream.names())
        return Diagnostic(span, f"unknown field {name!r}", f"{hint} ({listing})" if hint else listing)

    found = []
    for param_path, expr in node.expressions.items():
        if param_path in explained:
            continue
        for ref in expr.fields:
            if not upstream.has(ref.name):
                span = pipeline.expression_span(node, ("params", *param_path), ref.col, ref.end_col)
                found.append(unknown(ref.name, span))
    sometimes: dict[tuple, list[str]] = {}
    missing: dict[tuple, list[str]] = {}
    for rel_path, name in node.component.requires(node.params):
        if not upstream.has(name):
            missing.setdefault(rel_path, []).append(name)
        elif not upstream.open and not upstream.fields[name]:
            sometimes.setdefault(rel_path, []).append(name)
    for rel_path, names in missing.items():
        if len(names) == 1:
            found.append(unknown(names[0], pipeline.span(node, *rel_path)))
        else:
            found.append(
                Diagnostic(
                    pipeline.span(node, *rel_path),
                    f"{node.type} needs fields {', '.join(names)}, which {feeders} does not give",
                    listing,
                )
            )
    for rel_path, names in sometimes.items():
        found.append(
            Diagnostic(
                pipeline.span(node, *rel_path),
                f"{node.id!r} needs {', '.join(names)} on every record, but its input may lack them",
                f"the records from {feeders} come from streams with different fields",
            )
        )
    return found


def _edge_schema(pipeline: Pipeline, pred: Node, target: str) -> Schema | None:
    """The schema an edge carries: the predecessor's output, or what its named port sends."""
    port = pipeline.port(pred.id, target)
    if port is None:
        return pred.schema
    return pred.component.port_schema(port, pred.params, pred.input_schema, pred.schema)


def _passes_records_on(node: Node) -> bool:
    """Whether a node's output has the shape of its input, whatever that is (a filter, a
    deduplicate): probed with an open schema, which such a node hands back unchanged."""
    probe = Schema({}, open=True)
    return node.component is not None and node.component.output(node.params, probe) is probe


def _feeders(pipeline: Pipeline, graph: nx.DiGraph, node_id: str, memo: dict) -> list[Feeder]:
    """The nodes whose records reach ``node_id``'s main input.

    A node with one input that passes records on (a filter, a deduplicate, ...) or only adds
    to them (a map, a partition tag, a router) is looked through, to the node that feeds it.
    The walk is a loop, not a recursion, so a chain of any length is fine; ``memo`` keeps what
    was found above each looked-through node, so a whole pipeline is walked once.
    """
    found = []
    for pred_id in sorted(graph.predecessors(node_id)):
        if pipeline.port(pred_id, node_id) is None:
            found += _feeders_through(pipeline, graph, pred_id, memo)
    return found


def _looked_through(graph: nx.DiGraph, node_id: str) -> bool:
    node = graph.nodes[node_id]["node"]
    return (_passes_records_on(node) or node.stateless) and graph.in_degree(node_id) == 1


def _feeders_through(pipeline: Pipeline, graph: nx.DiGraph, pred_id: str, memo: dict) -> list[Feeder]:
    """The feeders that ``pred_id`` stands for: itself, or those above it if it is looked through."""
    path = []  # looked-through nodes, each fed by the next, whose feeders are not known yet
    while pred_id not in memo and _looked_through(graph, pred_id):
        path.append(pred_id)
        (above,) = graph.predecessors(pred_id)
        if pipeline.port(above, pred_id) is not None:
            memo[pred_id] = []
            break
        pred_id = above
    if pred_id in memo:
        result = memo[pred_id]
    else:
        pred = graph.nodes[pred_id]["node"]
        result = [Feeder(pred.id, pred.type, pred.params)]
    for node_id in path:
        memo[node_id] = result
    return list(result)


def _bind(
    pipeline: Pipeline, graph: nx.DiGraph, node: Node, upstream: Schema, memo: dict
) -> tuple[Node, list[Diagnostic], frozenset[tuple]]:
    """Let the node's component settle input-dependent params; its problems, located, and the
    param paths they blame."""
    params, problems = node.component.bind(node.params, upstream, _feeders(pipeline, graph, node.id, memo))
    problems = [Problem._make(problem) for problem in problems]  # a plugin's are plain tuples
    found = [
        Diagnostic(pipeline.span(node, "params", *problem.path), problem.message, problem.hint)
        for problem in problems
    ]
    return replace(node, params=params), found, frozenset(tuple(problem.path) for problem in problems)


def _schemas(pipeline: Pipeline) -> tuple[Pipeline, list[Diagnostic]]:
    """Derive each node's output schema in topological order, checking the fields it reads."""
    graph, found, memo = pipeline.graph.copy(), [], {}
    for node in pipeline.ordered():
        preds = [graph.nodes[p]["node"] for p in sorted(graph.predecessors(node.id))]
        if node.component is None or any(p.schema is None for p in preds):
            continue
        upstream = None
        if node.kind != "provider":
            if not preds:
                continue
            incoming = [_edge_schema(pipeline, pred, node.id) for pred in preds]
            if any(schema is None for schema in incoming):
                continue
            upstream = incoming[0]
            for schema in incoming[1:]:
                upstream = upstream.merge(schema)
            node, problems, explained = _bind(pipeline, graph, node, upstream, memo)
            feeders = " and ".join(repr(p.id) for p in sorted(preds, key=by_position))
            problems += _field_problems(pipeline, node, upstream, f"node {feeders}", explained)
            found.extend(problems)
            if problems:
                continue
        schema = node.component.output(node.params, upstream)
        graph.nodes[node.id]["node"] = replace(node, schema=schema, input_schema=upstream)
    return pipeline.evolve(graph=graph), found


def _acyclic_part(pipeline: Pipeline) -> Pipeline:
    """The pipeline without the edges that close cycles, so the rest can still be checked.

    One depth-first walk (a loop, not a recursion), from the nodes in config order, removes
    every edge that leads back to a node still on the walk's path: what is left has no cycle,
    whatever the number of cycles was.
    """
    graph = pipeline.graph.copy()
    state: dict[str, bool] = {}  # True while on the path, False when done
    closing = []
    for root in pipeline.graph:
        if root in state:
            continue
        state[root] = True
        path = [(root, iter(pipeline.graph.successors(root)))]
        while path:
            node, successors = path[-1]
            for succ in successors:
                if succ not in state:
                    state[succ] = True
                    path.append((succ, iter(pipeline.graph.successors(succ))))
                    break
                if state[succ]:
                    closing.append((node, succ))
            else:
                state[node] = False
                path.pop()
    graph.remove_edges_from(closing)
    return pipeline.evolve(graph=graph)


def validate(pipeline: Pipeline) -> tuple[Pipeline, list[Diagnostic]]:
    """Check the graph and every field reference; return the pipeline with schemas, and problems.

    Where the graph has cycles (an error already), fields are still checked on the rest of it.
    A pipeline built from a config with shape errors skips the checks of sources, sinks and
    inputs, which those errors (a misspelt ``edges``, a node without its keys) would set off.
    """
    found = _size(pipeline) + _cycles(pipeline) + (_structure(pipeline) if pipeline.complete else [])
    checked, problems = _schemas(_acyclic_part(pipeline))
    return checked, found + problems
