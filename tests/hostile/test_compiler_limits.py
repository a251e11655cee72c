"""The compiler handles very long chains, wide fan-outs, dense cycles and huge expressions:
each compiles or is refused with a located error, in bounded time, never with a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from compiler.build import build
from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_document, compile_text
from compiler.load.document import Document
from compiler.optimize import optimize
from compiler.optimize.fuse_stateless_chains import MAX_FUSED_MEMBERS
from compiler.plan import MAX_DEPTH, plan
from compiler.validate import MAX_NODES, validate
from runtime_lib.context import LocalContext
from tests.support.compiled_module import load_compiled
from tests.support.dag_shapes import fan_out_yaml
from tests.support.jobs import MDP, run

BOUND_S = 60
SOURCE = {"id": "ticks", "type": "provider.synthetic", "params": {"symbols": ["AAA"], "seed": 7, "rate": 10}}
FILTER_JOB = """\
name: j
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAA], seed: 7, rate: 10, batch_size: 8}}
    - id: f
      type: operator.filter
      params:
        where: "{where}"
    - id: out
      type: sink.jsonl
      params: {{path: out.jsonl}}
  edges:
    - [ticks, f]
    - [f, out]
"""


def chain_yaml(length: int) -> str:
    """A source, ``length`` filters in a row (filter i keeps ``price > i``) and a sink."""
    nodes = "".join(
        f"    - {{id: f{i}, type: operator.filter, params: {{where: 'price > {i}'}}}}\n"
        for i in range(length)
    )
    edges = "".join(
        f"    - [{a}, f{i}]\n" for i, a in enumerate(["ticks"] + [f"f{i}" for i in range(length - 1)])
    )
    return (
        "name: chain\nmode: dag\ndag:\n  nodes:\n"
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, rate: 10}}\n"
        f"{nodes}    - {{id: out, type: sink.jsonl, params: {{path: out.jsonl}}}}\n"
        f"  edges:\n{edges}    - [f{length - 1}, out]\n"
    )


def chain_document(length: int) -> Document:
    """The data of :func:`chain_yaml` as a document, without reading YAML (and without spans)."""
    nodes = (
        [SOURCE]
        + [
            {"id": f"f{i}", "type": "operator.filter", "params": {"where": f"price > {i}"}}
            for i in range(length)
        ]
        + [{"id": "out", "type": "sink.jsonl", "params": {"path": "o.jsonl"}}]
    )
    ids = [n["id"] for n in nodes]
    return Document(
        "chain.yaml",
        "",
        {
            "name": "chain",
            "mode": "dag",
            "dag": {"nodes": nodes, "edges": [[a, b] for a, b in zip(ids, ids[1:])]},
        },
    )


def first_error(text: str) -> str:
    """The first diagnostic of analysing ``text`` as ``j.yaml``: ``line:col-end: message``."""
    with pytest.raises(DiagnosticError) as caught:
        analyse("j.yaml", text)
    d = caught.value.diagnostics[0]
    return f"{d.span.line}:{d.span.column}-{d.span.end_column}: {d.message}"


# -- long chains, fan-outs, cycles ----------------------------------------------------------------


def test_a_10000_node_chain_is_checked_and_planned_without_recursion_and_refused_by_size():
    start = time.monotonic()
    doc = chain_document(10_000)
    pipeline, problems = build(doc, "chain.yaml")
    checked, found = validate(pipeline)
    assert problems == [] and [d.message for d in found] == [
        "the pipeline has 10,002 nodes; the limit is 10,000"
    ]
    assert checked.node("out").input_schema is not None  # schemas went all the way down the chain
    fused = [n for n in plan(optimize(checked)).nodes if n.members]
    assert [len(n.members) for n in fused] == [MAX_FUSED_MEMBERS] * 312 + [10_000 - 312 * MAX_FUSED_MEMBERS]
    assert time.monotonic() - start < BOUND_S


def test_mdp_validate_refuses_a_pipeline_over_the_node_limit_at_the_first_node_too_many(tmp_path):
    (tmp_path / "chain.yaml").write_text(chain_yaml(MAX_NODES), encoding="utf-8")
    start = time.monotonic()
    result = run([MDP, "validate", "chain.yaml"], tmp_path, None, check=False)
    # ticks is node 1 (line 5), filter i is line 6 + i: the 10,001st node is f9999, its id at column 12
    assert (
        result.stderr.splitlines()[0]
        == "chain.yaml:10005:12: error: the pipeline has 10,002 nodes; the limit is 10,000"
    )
    assert result.stderr.splitlines()[-2:] == ["  = hint: split it into several pipelines", "1 error"]
    assert result.returncode == 1 and time.monotonic() - start < BOUND_S


def test_a_5000_node_fan_out_compiles_in_bounded_time():
    start = time.monotonic()
    compiled = compile_text("fan.yaml", fan_out_yaml(5_000))
    assert compiled.source.count("\n    def to_f") == 1_666
    assert len(compiled.plan.nodes) == 4_999 and time.monotonic() - start < BOUND_S


@pytest.mark.slow
def test_many_sources_and_sinks_around_a_long_chain_compile_in_bounded_time():
    width = 3_000  # each sink is reached from every source, through the whole chain
    nodes = [{**SOURCE, "id": f"s{i}"} for i in range(width)]
    nodes += [
        {"id": f"m{i}", "type": "operator.map", "params": {"fields": {"x": "price"}}} for i in range(width)
    ]
    nodes += [{"id": f"o{i}", "type": "sink.null"} for i in range(width)]
    edges = [[f"s{i}", "m0"] for i in range(width)] + [[f"m{i}", f"m{i + 1}"] for i in range(width - 1)]
    edges += [[f"m{width - 1}", f"o{i}"] for i in range(width)]
    doc = Document("comb.yaml", "", {"name": "comb", "mode": "dag", "dag": {"nodes": nodes, "edges": edges}})
    start = time.monotonic()
    compiled = compile_document(doc)
    assert compiled.source.count("ctx.connect(") == width
    assert compiled.source.count("# fused into one loop: ") == -(-width // MAX_FUSED_MEMBERS)
    assert time.monotonic() - start < BOUND_S


def test_a_chain_longer_than_one_fused_loop_counts_every_member_across_the_loops():
    length = 3 * MAX_FUSED_MEMBERS + 4
    module = load_compiled(chain_yaml(length))
    ctx = LocalContext()
    module.build(ctx)
    records = [{"symbol": "AAA", "ts": i, "price": float(i), "size": 1} for i in range(length + 20)]
    ctx.outputs["ticks"](records)
    assert [r["price"] for r in ctx.collected["out"]] == [float(p) for p in range(length, length + 20)]
    stats = [ctx.node_stats[f"f{i}"] for i in range(length)]
    # filter i gets the records with price >= i and drops exactly the one with price == i
    assert [(s.events_in, s.events_out, s.dropped) for s in stats] == [
        (len(records) - i, len(records) - i - 1, 1) for i in range(length)
    ]
    assert Path(module.__file__).read_text(encoding="utf-8").count("# fused into one loop: ") == 4


def test_a_wide_fan_out_is_planned_with_one_reason_per_edge():
    start = time.monotonic()
    width = MAX_NODES // 2 - 1
    nodes = [SOURCE] + [
        {"id": f"f{i}", "type": "operator.filter", "params": {"where": "price > 0"}} for i in range(width)
    ]
    nodes += [{"id": f"o{i}", "type": "sink.jsonl", "params": {"path": f"o{i}.jsonl"}} for i in range(width)]
    edges = [["ticks", f"f{i}"] for i in range(width)] + [[f"f{i}", f"o{i}"] for i in range(width)]
    doc = Document("fan.yaml", "", {"name": "fan", "mode": "dag", "dag": {"nodes": nodes, "edges": edges}})
    pipeline, problems = build(doc, "fan.yaml")
    checked, found = validate(pipeline)
    assert problems == found == []
    the_plan = plan(optimize(checked))
    from_source = {b.reason for b in the_plan.boundaries if b.source == "ticks"}
    assert from_source == {f"fan-out: 'ticks' feeds {width} nodes, each gets the batch"}
    assert len(the_plan.boundaries) == 2 * width
    assert time.monotonic() - start < BOUND_S


def test_a_densely_cyclic_graph_is_reported_in_bounded_time():
    start = time.monotonic()
    ids = [f"f{i}" for i in range(14)]  # every node feeds every other: billions of simple cycles
    nodes = [SOURCE] + [{"id": i, "type": "operator.filter", "params": {"where": "price > 0"}} for i in ids]
    nodes.append({"id": "out", "type": "sink.jsonl", "params": {"path": "o.jsonl"}})
    edges = [["ticks", "f0"], ["f13", "out"]] + [[a, b] for a in ids for b in ids if a != b]
    pipeline, _ = build(
        Document("c.yaml", "", {"name": "c", "mode": "dag", "dag": {"nodes": nodes, "edges": edges}}),
        "c.yaml",
    )
    _, found = validate(pipeline)
    assert [d.message.split(":")[0] for d in found] == ["cycle"] * 5
    assert time.monotonic() - start < BOUND_S


def stateful_chain(length: int) -> str:
    """A source, ``length`` deduplicate nodes in a row (each its own push function) and a sink."""
    nodes = "".join(
        f"    - {{id: d{i}, type: operator.deduplicate, params: {{ttl: 1s}}}}\n" for i in range(length)
    )
    edges = "".join(
        f"    - [{a}, d{i}]\n" for i, a in enumerate(["ticks"] + [f"d{i}" for i in range(length - 1)])
    )
    return (
        "name: deep\nmode: dag\ndag:\n  nodes:\n"
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [AAA], seed: 7, rate: 10}}\n"
        f"{nodes}    - {{id: out, type: sink.jsonl, params: {{path: out.jsonl}}}}\n"
        f"  edges:\n{edges}    - [d{length - 1}, out]\n"
    )


def test_a_path_too_long_for_the_push_calls_is_refused_at_its_first_node_too_deep():
    with pytest.raises(DiagnosticError) as caught:
        compile_text("deep.yaml", stateful_chain(1200))
    (d,) = caught.value.diagnostics
    # ticks is line 5 and node 1 of the path: d399 (line 405) is node 401
    assert (d.span.line, d.span.column) == (405, 12)
    assert d.message == "node 'd399' is more than 400 nodes from its source after fusion"


def test_a_stateful_chain_at_the_depth_limit_runs():
    module = load_compiled(stateful_chain(MAX_DEPTH - 2))  # with the source and the sink: MAX_DEPTH
    records = [{"symbol": "AAA", "ts": i * 10**9, "price": 1.0, "size": 1} for i in range(5)]
    assert module.run_local({"ticks": records})["out"] == records


# -- expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, error",
    [
        ("10**10**10 > 0", "11:17-27: this power has about 10,000,000,001 digits, too many to compute"),
        ("(10**5)**(10**5) > 0", "11:17-33: this power has about 500,001 digits, too many to compute"),
        ("2**100000 > 0", "11:17-26: this power has about 30,103 digits, too many to compute"),
        ("price > 1 and 10**3000 * 10**3000 > 0", "11:31-50: this product has too many digits to compute"),
        ("size > 10 and price ** 20000 > 0", "11:31-45: the exponent 20,000 is too large"),
        ("len('ab' * 10**9) > 0", "11:21-33: this repetition makes 2,000,000,000 items, too many"),
        ("len([0] * 10**8) > 0", "11:21-32: this repetition makes 100,000,000 items, too many"),
        (
            "len(('x' if 1 > 0 else 'y') * 10**9) > 0",
            "11:21-52: this repetition makes 1,000,000,000 items, too many",
        ),
        ("f'{price:>1000000000}' != ''", "11:17-39: a format width of 1000000000 is too large"),
        ("'%099999999d' % size != ''", "11:17-37: a format width of 99999999 is too large"),
        ("round(price, -10**9) > 0", "11:17-37: round to -1,000,000,000 digits is too many"),
        (
            "lambda x: x.get('p', 10**10**10) > 0",
            "11:38-48: this power has about 10,000,000,001 digits, too many to compute",
        ),
    ],
)
def test_a_constant_that_cannot_be_computed_in_bounded_time_is_refused_where_it_is(where, error):
    assert first_error(FILTER_JOB.format(where=where)) == error


@pytest.mark.parametrize(
    "where",
    [
        "price ** size > 0",
        "price ** 2 + 2 ** 1000 > 0",
        "math.exp(1e308) > 0",
        "f'{price:>10.2f}' != ''",
        "'%s > 5000' % price != ''",
        "len('ab' * 1000) > 0",
        "1 / 0 > price",
    ],
)
def test_bounded_constants_and_field_dependent_powers_still_compile(where):
    assert "def to_f(batch)" in compile_text("j.yaml", FILTER_JOB.format(where=where)).source


def test_an_expression_with_5000_terms_is_refused_by_its_length():
    where = " + ".join(["price"] * 5000) + " > 0"
    assert (
        first_error(FILTER_JOB.format(where=where))
        == "11:17-40018: the expression is 40,001 characters long; the limit is 10,000"
    )


def test_an_expression_nested_past_the_limit_is_refused_at_the_first_level_too_many():
    where = " + ".join(["price"] * 150) + " > 0"  # the 50 leftmost terms are 101 levels down
    assert (
        first_error(FILTER_JOB.format(where=where))
        == "11:17-422: the expression is nested more than 100 levels deep"
    )


def test_an_expression_at_the_nesting_limit_compiles():
    where = " + ".join(["price"] * 99) + " > 0"  # the comparison, then 98 additions, then the names
    assert "def to_f(batch)" in compile_text("j.yaml", FILTER_JOB.format(where=where)).source


@pytest.mark.parametrize(
    "where, error",
    [
        ("-" * 5000 + "price > 0", "11:17-18: the expression is nested too deeply to read"),
        (
            "(" * 300 + "price" + ")" * 300 + " > 0",
            "11:217-218: invalid expression: too many nested parentheses",
        ),
    ],
)
def test_an_expression_too_deep_for_pythons_parser_is_a_located_error(where, error):
    assert first_error(FILTER_JOB.format(where=where)) == error


def test_mdp_validate_shows_the_refused_power_with_its_hint(tmp_path):
    (tmp_path / "j.yaml").write_text(FILTER_JOB.format(where="10**10**10 > 0"), encoding="utf-8")
    result = run([MDP, "validate", "j.yaml"], tmp_path, None, check=False)
    assert result.stderr.splitlines() == [
        "j.yaml:11:17: error: this power has about 10,000,000,001 digits, too many to compute",
        '   11 |         where: "10**10**10 > 0"',
        "      |                 ^~~~~~~~~~",
        "  = hint: constant integers are limited to 10,000 bits (about 3,010 digits)",
        "1 error",
    ]
    assert result.returncode == 1
