"""The older system's config shapes: ``dag.graph``, no ``mode``, no ``name``."""

from __future__ import annotations

import json

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_document, compile_text
from compiler.load.config import load_config
from compiler.overlay import apply_settings
from compiler.settings import RunSettings
from tests.support.compiled_module import without_config_locations

NODES = """\
    - id: ticks
      type: provider.synthetic
      params: {symbols: [AAPL], count: 100}
    - id: store
      type: sink.jsonl
      params: {path: out.jsonl}
"""
CURRENT = f"name: job\nmode: dag\ndag:\n  nodes:\n{NODES}  edges: [[ticks, store]]\n"
OLDER = (
    "name: job\nmode: dag\ndag:\n  graph:\n    nodes:\n"
    + "".join("  " + line + "\n" for line in NODES.splitlines())
    + "    edges: [[ticks, store]]\n"
)


def diagnostics(file: str, text: str) -> list[str]:
    with pytest.raises(DiagnosticError) as caught:
        analyse(file, text)
    return [f"{d.span.line}:{d.span.column}: {d.message}" for d in caught.value.diagnostics]


def test_graph_section_compiles_to_the_same_module_as_the_flat_one():
    older = compile_text("job.yaml", OLDER).source
    current = compile_text("job.yaml", CURRENT).source

    def code(source: str) -> list[str]:
        lines = without_config_locations(source).splitlines()
        return [line for line in lines if "sha256" not in line.lower() and "#" not in line]

    assert code(older) == code(current)
    assert "# job.yaml:6 node 'ticks' (provider.synthetic)" in older  # where it is written, under graph:


def test_a_mistake_under_graph_is_reported_where_it_is_written():
    text = OLDER.replace("count: 100", "count: lots")
    [problem] = diagnostics("job.yaml", text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "count: lots" in row)
    assert problem.startswith(f"{line}:") and "count" in problem


def test_nodes_both_under_graph_and_directly_is_an_error_at_graph():
    text = OLDER.replace("dag:\n", "dag:\n  nodes: []\n", 1)
    [problem] = diagnostics("job.yaml", text)
    assert problem == "5:3: dag has 'nodes' both directly and under 'graph'"


def test_mode_is_inferred_from_the_only_section():
    classic = (
        "name: c\nclassic:\n  spec: {tenant_id: t, pipeline_id: p, source: synthetic, symbols: [AAPL]}\n"
    )
    assert load_config("c.yaml", classic).data["mode"] == "classic"
    assert load_config("d.yaml", CURRENT.replace("mode: dag\n", "")).data["mode"] == "dag"
    both = CURRENT.replace("mode: dag\n", "") + "classic: {spec: {}}\n"
    assert load_config("b.yaml", both).data["mode"] == "dag"  # with both, mode decides; default dag
    assert 'JOB_MODE = "classic"' in compile_text("c.yaml", classic).source


def test_a_config_without_name_is_named_after_its_file():
    source = compile_text("jobs/eu_bars.yaml", CURRENT.replace("name: job\n", "")).source
    assert 'JOB_NAME = "eu_bars"' in source
    [problem] = diagnostics("jobs/eu bars.yaml", CURRENT.replace("name: job\n", ""))
    assert problem == "1:1: the config has no name, and its file name 'eu bars' cannot name the job"


def test_dag_json_overlay_accepts_the_graph_form(monkeypatch, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(CURRENT)
    overlay = {"graph": {"nodes": [{"id": "ticks", "params": {"count": 7}}]}}
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", json.dumps(overlay))
    settings = RunSettings.resolve(config=config)
    doc, applied = apply_settings(load_config(str(config), CURRENT), settings)
    assert doc.data["dag"]["nodes"][0]["params"]["count"] == 7 and "dag_json" in applied
    bad = {"graph": {"nodes": [{"id": "ticks", "params": {"count": "many"}}]}}
    monkeypatch.setenv("MDP_UNIFIED_DAG_JSON", json.dumps(bad))
    doc, _ = apply_settings(load_config(str(config), CURRENT), RunSettings.resolve(config=config))
    with pytest.raises(DiagnosticError) as caught:
        compile_document(doc)
    [problem] = caught.value.diagnostics
    assert problem.span.file == "$MDP_UNIFIED_DAG_JSON" and "count" in problem.message
