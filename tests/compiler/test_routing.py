"""operator.router and operator.hash_partition: compiled semantics, stability and errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from runtime_lib.hashing import stable_hash
from tests.support.compiled_module import load_compiled

TICKS = [
    {"symbol": s, "ts": i, "price": 10.0 + i, "size": 100}
    for i, s in enumerate(["AAPL", "MSFT", "SPY", "IBM"] * 25)
]

# Fixed values: a change here would move every key to another shard of every deployment.
EXPECTED_HASHES = {
    "AAPL": 3060094812,
    "MSFT": 3974476411,
    "SPY": 968359423,
    "QQQ": 770937058,
    ("AAPL", 101.5): 2095565256,
    42: 841265288,
}


def _router_job(routes: str, default: str = "", extra_edges: str = "", sinks=("tech", "etf", "rest")) -> str:
    sink_nodes = "\n".join(f"    - {{id: {name}, type: sink.null}}" for name in sinks)
    return f"""
name: r
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: unused.csv}}}}
    - id: split
      type: operator.router
      params: {{key: symbol, routes: {routes}{default}}}
{sink_nodes}
  edges:
    - [ticks, split]
{extra_edges}"""


def test_stable_hash_fixed_values():
    assert {key: stable_hash(key) for key in EXPECTED_HASHES} == EXPECTED_HASHES


def test_stable_hash_is_the_same_in_other_processes():
    code = "from runtime_lib.hashing import stable_hash; print(stable_hash('AAPL'), stable_hash(('AAPL', 101.5)))"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == ["3060094812", "2095565256"]


def test_router_sends_each_record_to_its_route_and_default():
    module = load_compiled(_router_job("{AAPL: tech, MSFT: tech, SPY: etf}", ", default: rest"))
    result = module.run_local({"ticks": TICKS})
    assert [r["symbol"] for r in result["tech"]] == [
        t["symbol"] for t in TICKS if t["symbol"] in ("AAPL", "MSFT")
    ]
    assert [r["symbol"] for r in result["etf"]] == ["SPY"] * 25
    assert [r["symbol"] for r in result["rest"]] == ["IBM"] * 25


def test_unrouted_records_are_counted_as_dropped():
    from runtime_lib.context import LocalContext

    module = load_compiled(_router_job("{AAPL: tech, SPY: etf}", sinks=("tech", "etf")))
    ctx = LocalContext()
    module.build(ctx)
    ctx.outputs["ticks"](TICKS)
    assert len(ctx.collected["tech"]) == 25 and len(ctx.collected["etf"]) == 25
    stats = ctx.node_stats["split"]
    assert (stats.events_in, stats.events_out, stats.dropped) == (100, 50, 50)


def test_router_edges_may_also_be_listed():
    edges = "    - [split, tech]\n    - [split, rest]"
    module = load_compiled(_router_job("{AAPL: tech}", ", default: rest", edges, sinks=("tech", "rest")))
    result = module.run_local({"ticks": TICKS})
    assert len(result["tech"]) == 25 and len(result["rest"]) == 75


def test_router_errors_point_at_the_params():
    with pytest.raises(DiagnosticError) as caught:
        compile_text("r.yaml", _router_job("{AAPL: tekh}", "", "    - [split, etf]", sinks=("tech", "etf")))
    messages = {(d.span.line, d.message) for d in caught.value.diagnostics}
    assert (8, "route 'AAPL' output of 'split' goes to unknown node 'tekh'") in messages
    assert any("'etf' is not one of them" in m for _, m in messages)


def test_hash_partition_tags_records():
    text = """
name: p
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: unused.csv}}
    - {id: shard, type: operator.hash_partition, params: {key: "(symbol, price)", num_partitions: 4, field: shard}}
    - {id: out, type: sink.jsonl, params: {path: "-"}}
  edges: [[ticks, shard], [shard, out]]
"""
    out = load_compiled(text).run_local({"ticks": [{"symbol": "AAPL", "ts": 1, "price": 101.5, "size": 1}]})[
        "out"
    ]
    assert out == [{"symbol": "AAPL", "ts": 1, "price": 101.5, "size": 1, "shard": 2095565256 % 4}]
