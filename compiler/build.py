"""Build the pipeline IR from a loaded config, collecting every spec-level problem at once."""

from __future__ import annotations

import hashlib

import networkx as nx
from pydantic import ValidationError

from .components import ComponentNotFound, lookup, trust
from .components.base import Problem
from .diagnostics import Diagnostic, DiagnosticError
from .expressions import ExpressionError, parse_expression
from .ir import Node, Pipeline, node_path
from .load.document import Document
from .pydantic_errors import diagnostics_from
from .spec import JobSpec, NodeSpec
from .suggest import did_you_mean


def _build_node(doc: Document, index: int, spec, problems: list[Diagnostic]) -> Node:
    span = doc.span(node_path(index, "id"))
    try:
        component = lookup(spec.type)
    except ComponentNotFound as exc:
        problems.append(Diagnostic(doc.span(node_path(index, "type")), exc.message, exc.hint))
        return Node(spec.id, spec.type, span, index)
    params_path = node_path(index, "params")
    try:
        params = component.params.model_validate(spec.params)
    except ValidationError as exc:
        problems.extend(diagnostics_from(exc, doc, component.params, params_path, f"params of {spec.type}"))
        return Node(spec.id, component.type_name, span, index)
    expressions = {}
    for param_path, text in component.expressions(params).items():
        try:
            expressions[param_path] = parse_expression(text)
        except ExpressionError as exc:
            at = doc.expression_span(params_path + param_path, exc.col, exc.end_col)
            problems.append(Diagnostic(at, exc.message, exc.hint))
    checks = [
        Diagnostic(doc.span(params_path + problem.path), problem.message, problem.hint)
        for problem in map(Problem._make, component.check(params))  # a plugin's are plain tuples
    ]
    problems.extend(checks)
    if checks or len(expressions) != len(component.expressions(params)):
        return Node(spec.id, component.type_name, span, index)
    return Node(spec.id, component.type_name, span, index, component, params, expressions)


def _add_port_edges(graph: nx.DiGraph, doc: Document, problems: list[Diagnostic]) -> None:
    """Add the edges that params name (a router's routes, a late-tick side output).

    An edge the config also lists is kept once and takes the port; a splitting node (router)
    may have no other successors.
    """
    for node_id in list(graph):
        node = graph.nodes[node_id]["node"]
        if node.component is None:
            continue
        targets = {}
        for port, target, param_path in node.component.side_outputs(node.params):
            span = doc.span(node.path + ("params",) + param_path)
            if target not in graph:
                hint = did_you_mean(target, graph) or "node ids: " + ", ".join(graph)
                problems.append(
                    Diagnostic(span, f"{port} output of {node_id!r} goes to unknown node {target!r}", hint)
                )
                continue
            if target == node_id:
                problems.append(Diagnostic(span, f"{node_id!r} cannot send its {port} output to itself"))
                continue
            targets[target] = f"{targets[target]}, {port}" if target in targets else port
            listed = graph.edges[node_id, target] if graph.has_edge(node_id, target) else {"span": span}
            graph.add_edge(node_id, target, **{**listed, "port": targets[target]})
        if node.component.splits:
            for target in list(graph.successors(node_id)):
                if target not in targets:
                    problems.append(
                        Diagnostic(
                            graph.edges[node_id, target]["span"],
                            f"{node_id!r} sends records only to the nodes its params name; "
                            f"{target!r} is not one of them",
                            f"add {target!r} to its routes or make it the default",
                        )
                    )


def _valid_parts(data: dict) -> tuple[list, list] | None:
    """The nodes and edges that are well formed on their own, with their positions, from a
    config whose whole shape did not validate: so one bad key does not hide the rest."""
    dag = data.get("dag")
    raw_nodes = dag.get("nodes") if isinstance(dag, dict) else None
    if not isinstance(raw_nodes, list):
        return None
    nodes = []
    for index, raw in enumerate(raw_nodes):
        try:
            nodes.append((index, NodeSpec.model_validate(raw)))
        except ValidationError:  # already reported; kept as a placeholder if it has an id
            if isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("type"), str):
                nodes.append((index, NodeSpec.model_construct(id=raw["id"], type=raw["type"], params=None)))
    raw_edges = dag.get("edges") if isinstance(dag.get("edges"), list) else []
    edges = [
        (index, tuple(edge))
        for index, edge in enumerate(raw_edges)
        if isinstance(edge, list) and len(edge) == 2 and all(isinstance(end, str) for end in edge)
    ]
    return nodes, edges


def _plugins(doc: Document, listed: object, problems: list[Diagnostic]) -> list[str]:
    """The well-formed entries of the config's ``plugins:`` list; each wrong one is a located problem."""
    if not isinstance(listed, list):
        return []  # absent, or reported by the spec model
    allowed = []
    for index, entry in enumerate(listed):
        if not isinstance(entry, str):
            continue  # reported by the spec model
        problem = trust.listing_problem(entry)
        if problem:
            problems.append(Diagnostic(doc.span(("plugins", index)), *problem))
        else:
            allowed.append(entry)
    return allowed


def _add_nodes(graph: nx.DiGraph, doc: Document, nodes: list, problems: list[Diagnostic]) -> None:
    """Add one IR node per (index, spec); a duplicate id is a problem and is left out."""
    for index, node_spec in nodes:
        if node_spec.id in graph:
            first = graph.nodes[node_spec.id]["node"]
            problems.append(
                Diagnostic(
                    doc.span(node_path(index, "id")),
                    f"duplicate node id {node_spec.id!r}",
                    f"first defined at line {first.span.line}",
                )
            )
            continue
        if node_spec.params is None:  # a placeholder for a node whose own keys are wrong
            node = Node(node_spec.id, node_spec.type, doc.span(node_path(index, "id")), index)
        else:
            node = _build_node(doc, index, node_spec, problems)
        graph.add_node(node_spec.id, node=node)


def build(doc: Document, config_path: str) -> tuple[Pipeline, list[Diagnostic]]:
    """Build the IR graph and return it with every node- and edge-level problem found.

    Where the config's shape is wrong, the well-formed nodes and edges are still checked, so
    every problem is reported at once; without a list of nodes it raises at once. Nodes
    whose type or params are wrong stay in the graph without a component, so that the graph
    checks that follow still see every edge.
    """
    if not isinstance(doc.data, dict):
        raise DiagnosticError([Diagnostic(doc.span(()), "a config is a mapping with name, mode and dag")])
    problems: list[Diagnostic] = []
    shape_ok = True
    try:
        spec = JobSpec.model_validate(doc.data)
        name, run = spec.name, spec.run
        nodes, edges = list(enumerate(spec.dag.nodes)), list(enumerate(spec.dag.edges))
    except ValidationError as exc:
        problems, shape_ok = diagnostics_from(exc, doc, JobSpec), False
        parts = _valid_parts(doc.data)
        if parts is None:
            raise DiagnosticError(problems) from None
        nodes, edges = parts
        name, run = str(doc.data.get("name", "job")), None
    listed = _plugins(doc, doc.data.get("plugins"), problems)
    graph = nx.DiGraph()
    with trust.listing(listed):  # node types and plugin functions import only allowed modules
        _add_nodes(graph, doc, nodes, problems)
    for index, (source, target) in edges:
        missing = [(pos, end) for pos, end in enumerate((source, target)) if end not in graph]
        for pos, end in missing:
            hint = did_you_mean(end, graph) or "node ids: " + ", ".join(graph)
            problems.append(
                Diagnostic(doc.span(("dag", "edges", index, pos)), f"edge to unknown node {end!r}", hint)
            )
        if missing:
            continue
        if graph.has_edge(source, target):
            problems.append(
                Diagnostic(doc.span(("dag", "edges", index)), f"duplicate edge {source!r} -> {target!r}")
            )
            continue
        graph.add_edge(source, target, span=doc.span(("dag", "edges", index)))
    _add_port_edges(graph, doc, problems)
    sha = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    return Pipeline(name, config_path, sha, graph, doc, run_defaults=run, complete=shape_ok), problems
