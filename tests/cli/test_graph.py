"""``mdp graph``: DOT and Mermaid text read back with small parsers, escaping, and SVG via Graphviz."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from compiler.codegen.literals import comment_text
from compiler.driver import analyse, read_config
from compiler.graph_render import render_dot, render_mermaid

ROOT = Path(__file__).parents[2]
FANOUT = str(ROOT / "tests/golden/fanout_union/config.yaml")
CHAIN = str(ROOT / "tests/golden/chain/config.yaml")
runner = CliRunner()

WEIRD = """\
name: weird
mode: dag
dag:
  nodes:
    - id: "say \\"hi\\"\\\\n"
      type: provider.synthetic
      params: {symbols: ["A\\"<b>", "Ü#1"], count: 5}
    - id: "größe\\nzwei"
      type: operator.filter
      params: {where: "size >= 100 and symbol != '|x|'"}
    - id: "out`}{;"
      type: sink.jsonl
      params: {path: "-"}
    - id: "]) --> x; %%"
      type: sink.null
  edges:
    - ["say \\"hi\\"\\\\n", "größe\\nzwei"]
    - ["größe\\nzwei", "out`}{;"]
    - ["größe\\nzwei", "]) --> x; %%"]
"""
WEIRD_IDS = ['say "hi"\\n', "größe\nzwei", "out`}{;", "]) --> x; %%"]

_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'
DOT_NODE = re.compile(rf"^  (n\d+) \[label={_DOT_STRING}, (shape=\w+(?:, [a-z]+=(?:\w+|\"\w+\"))*)\];$")
DOT_EDGE = re.compile(rf"^  (n\d+) -> (n\d+)(?: \[label={_DOT_STRING}\])?;$")
MERMAID_NODE = re.compile(r'^    (n\d+)(\(\[|\[\(|\[\[|\[|\()"([^"]*)"(\]\)|\)\]|\]\]|\]|\))$')
MERMAID_EDGE = re.compile(r'^    (n\d+) -->(?:\|"([^"]*)"\|)? (n\d+)$')


def unescape_dot(text: str) -> str:
    """Undo DOT string escapes: ``\\n`` is a line break, ``\\"`` a quote, ``\\\\`` a backslash."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse_dot(text: str) -> nx.DiGraph:
    """Read back what :func:`render_dot` writes; every line must be a statement it knows."""
    lines = text.splitlines()
    assert lines[0].startswith("// ") and re.match(rf"^digraph {_DOT_STRING} {{$", lines[1]), lines[:2]
    assert lines[2].startswith("  graph [") and lines[3].startswith("  node [") and lines[-1] == "}"
    graph = nx.DiGraph()
    for line in lines[4:-1]:
        node, edge = DOT_NODE.match(line), DOT_EDGE.match(line)
        assert node or edge, f"not a DOT statement: {line!r}"
        if node:
            graph.add_node(node[1], label=unescape_dot(node[2]).split("\n"), style=node[3])
        else:
            graph.add_edge(edge[1], edge[2], label=unescape_dot(edge[3]) if edge[3] is not None else None)
    return graph


def unescape_mermaid(text: str) -> str:
    """Undo Mermaid entity codes (``#34;``)."""
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


def parse_mermaid(text: str) -> nx.DiGraph:
    """Read back what :func:`render_mermaid` writes; every line must be a statement it knows."""
    lines = text.splitlines()
    assert lines[0].startswith("%% ") and lines[1] == "flowchart LR"
    graph = nx.DiGraph()
    for line in lines[2:]:
        node, edge = MERMAID_NODE.match(line), MERMAID_EDGE.match(line)
        assert node or edge, f"not a Mermaid statement: {line!r}"
        if node:
            label = node[3]
            assert not re.search(r"[<>&`|]", label.replace("<br/>", "")), label
            graph.add_node(
                node[1],
                label=[unescape_mermaid(part) for part in label.split("<br/>")],
                shape=node[2] + node[4],
            )
        else:
            graph.add_edge(edge[1], edge[3], label=unescape_mermaid(edge[2]) if edge[2] is not None else None)
    return graph


def by_config_id(graph: nx.DiGraph) -> nx.DiGraph:
    """Relabel the synthetic node ids with the config ids shown on the labels' first lines."""
    names = {n: graph.nodes[n]["label"][0].split(" (fused:")[0] for n in graph}
    return nx.relabel_nodes(graph, names)


def pipeline_of(path: str, text: str | None = None):
    """The checked (unoptimised) pipeline of a config file, or of ``text``."""
    return analyse(path, text) if text is not None else analyse(*read_config(path))


def mdp(*args: str):
    """Run the command line in-process."""
    from compiler.cli import app

    return runner.invoke(app, list(args))


@pytest.mark.parametrize(("render", "parse"), [(render_dot, parse_dot), (render_mermaid, parse_mermaid)])
def test_graph_before_fusion_has_every_node_and_edge(render, parse):
    pipeline = pipeline_of(FANOUT)
    drawn = by_config_id(parse(render(pipeline)))
    assert set(drawn.nodes) == set(pipeline.graph.nodes)
    assert set(drawn.edges) == set(pipeline.graph.edges)
    labels = {n: drawn.nodes[n]["label"] for n in drawn}
    assert labels["blocks"] == ["blocks", "operator.filter", "where: size >= 1000"]
    assert labels["bars_5m"] == ["bars_5m", "operator.resample_ohlc", "window: 5m", "allowed_lateness: 2s"]
    assert labels["ticks"] == [
        "ticks",
        "provider.replay",
        "path: configs/data/sample_ticks.csv.gz",
        "symbols: [AAPL, SPY]",
    ]
    assert labels["tag"] == ["tag", "operator.map", "fields: {block: size >= 1000}"]


@pytest.mark.parametrize(("fmt", "parse"), [("dot", parse_dot), ("mermaid", parse_mermaid)])
def test_optimised_graph_shows_a_fused_node_with_its_members(fmt, parse):
    result = mdp("graph", CHAIN, "--format", fmt, "--optimised")
    assert result.exit_code == 0, result.output
    drawn = by_config_id(parse(result.stdout))
    assert list(nx.topological_sort(drawn)) == ["ticks", "enrich", "out"]
    assert drawn.nodes["enrich"]["label"] == [
        "enrich (fused: 3 operators)",
        "enrich: operator.map, fields: {notional: price * size}",
        "big: operator.filter, where: size >= 500",
        "project: operator.map, select: [symbol, ts, notional]",
    ]
    before = by_config_id(parse(mdp("graph", CHAIN, "--format", fmt).stdout))
    assert list(nx.topological_sort(before)) == ["ticks", "enrich", "big", "project", "out"]
    assert "after optimisation" in result.stdout.splitlines()[0]


def test_shapes_tell_node_kinds_apart():
    dot = parse_dot(render_dot(pipeline_of(FANOUT)))
    styles = {dot.nodes[n]["label"][0]: dot.nodes[n]["style"] for n in dot}
    assert styles["ticks"] == "shape=ellipse" and styles["store"] == "shape=cylinder"
    assert styles["bars_5m"] == "shape=box" and "rounded" in styles["blocks"]
    mermaid = parse_mermaid(render_mermaid(pipeline_of(FANOUT)))
    shapes = {mermaid.nodes[n]["label"][0]: mermaid.nodes[n]["shape"] for n in mermaid}
    assert (shapes["ticks"], shapes["store"], shapes["bars_5m"], shapes["blocks"]) == (
        "([])",
        "[()]",
        "[]",
        "()",
    )


@pytest.mark.parametrize(("render", "parse"), [(render_dot, parse_dot), (render_mermaid, parse_mermaid)])
def test_ids_with_quotes_newlines_and_unicode_are_escaped(render, parse):
    pipeline = pipeline_of("weird.yaml", WEIRD)
    assert sorted(pipeline.graph.nodes) == sorted(WEIRD_IDS)
    text = render(pipeline)
    drawn = by_config_id(parse(text))
    shown = {comment_text(i): i for i in WEIRD_IDS}  # control characters are shown as escapes
    assert set(drawn.nodes) == set(shown)
    assert {(shown[a], shown[b]) for a, b in drawn.edges} == set(pipeline.graph.edges)
    labels = {n: drawn.nodes[n]["label"] for n in drawn}
    assert labels["größe\\nzwei"][2] == "where: size >= 100 and symbol != '|x|'"
    assert labels['say "hi"\\n'][2] == 'symbols: [A"<b>, Ü#1]'
    assert "größe" in text and "Ü" in text  # unicode is kept as is


@pytest.mark.parametrize(("render", "parse"), [(render_dot, parse_dot), (render_mermaid, parse_mermaid)])
def test_edge_ports_are_labelled_and_escaped(render, parse):
    pipeline = pipeline_of(FANOUT)
    graph = pipeline.graph.copy()
    graph.edges["tag", "audit"]["port"] = 'la"te|<x>\n'
    drawn = by_config_id(parse(render(pipeline.evolve(graph=graph))))
    assert drawn.edges["tag", "audit"]["label"] == 'la"te|<x>\\n'
    assert drawn.edges["tag", "bars_5m"]["label"] is None


def test_output_file_and_optimized_spelling(tmp_path):
    target = tmp_path / "out" / "chain.mmd"
    result = mdp("graph", CHAIN, "-f", "mermaid", "--optimized", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == mdp("graph", CHAIN, "-f", "mermaid", "--optimised").stdout


def test_dead_nodes_are_drawn_before_and_pruned_after_with_a_warning(tmp_path):
    config = tmp_path / "dead.yaml"
    config.write_text(
        Path(CHAIN)
        .read_text(encoding="utf-8")
        .replace(
            "  edges:\n",
            '    - id: unused\n      type: operator.filter\n      params: {where: "size > 0"}\n'
            "  edges:\n    - [ticks, unused]\n",
            1,
        ),
        encoding="utf-8",
    )
    before = by_config_id(parse_dot(mdp("graph", str(config)).stdout))
    assert "unused" in before
    result = mdp("graph", str(config), "--optimised")
    assert result.exit_code == 0 and "unused" not in by_config_id(parse_dot(result.stdout))
    assert "warning: node 'unused' reaches no sink" in result.stderr


def test_config_errors_exit_1_with_diagnostics(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        Path(CHAIN).read_text(encoding="utf-8").replace("operator.filter", "operator.filtr"), encoding="utf-8"
    )
    result = mdp("graph", str(config))
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: unknown node type 'operator.filtr'" in result.stderr
    assert "hint: did you mean 'operator.filter'?" in result.stderr


def test_svg_without_graphviz_says_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = mdp("graph", CHAIN, "--format", "svg", "-o", str(tmp_path / "g.svg"))
    assert result.exit_code == 1
    assert "install graphviz" in result.stderr and "`dot`" in result.stderr
    assert not (tmp_path / "g.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("config", [CHAIN, "weird"])
def test_svg_with_graphviz(tmp_path, config):
    if config == "weird":
        config = str(tmp_path / "weird.yaml")
        Path(config).write_text(WEIRD, encoding="utf-8")
    target = tmp_path / "graph.svg"
    result = mdp("graph", config, "--format", "svg", "--optimised", "-o", str(target))
    assert result.exit_code == 0, result.output
    svg = target.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert ("größe\\nzwei" in svg) if "weird" in config else ("enrich (fused: 3 operators)" in svg)
