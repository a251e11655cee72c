"""The older system's example configs, as its design document writes them.

``tests/fixtures/seed/<case>.yaml`` are the document's YAML blocks byte for byte: the
file-based example and Advanced Examples 1 to 3. Each gives exactly the diagnostics in
``<case>.err`` (``mdp validate``'s whole stderr; regenerate with ``--update-errors`` and review).
Then every hint is done as it says, and the result must compile and run, with
``provider.synthetic`` in place of the live Interactive Brokers gateway.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pytest

from compiler.component_docs import params_of
from compiler.components import REGISTRY
from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_text
from tests.compiler.test_errors import validate_stderr
from tests.support.jobs import MDP, REPO, job_env, parse_summary, run

SEED = Path(__file__).parents[1] / "fixtures" / "seed"
CASES = sorted(p.stem for p in SEED.glob("*.yaml"))
TICKS = 20_000  # synthetic ticks are 1 ms apart in event time: 20 s of them


def seed(case: str) -> str:
    return (SEED / f"{case}.yaml").read_text(encoding="utf-8")


def diagnostic_error(file: str, text: str) -> DiagnosticError:
    """The error that checking config ``text`` raises (it must raise one)."""
    with pytest.raises(DiagnosticError) as caught:
        analyse(file, text)
    return caught.value


def diagnostics(file: str, text: str) -> list[tuple[int, str, str | None]]:
    """(line, message, hint) of every diagnostic, in position order."""
    return [(d.span.line, d.message, d.hint) for d in diagnostic_error(file, text).diagnostics]


def replaced(text: str, *edits: tuple[str, str]) -> str:
    """``text`` with each (old, new) done once; each old must occur exactly once."""
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def with_synthetic_source(text: str) -> str:
    """The config with its provider.ibkr.stream source made synthetic: same symbols, finite."""
    text = replaced(text, ("type: provider.ibkr.stream", "type: provider.synthetic"))
    return re.sub(r'stream: "\w+"', f"count: {TICKS}", text, count=1)


def run_job(tmp_path: Path, name: str, text: str, *env: tuple[str, str]):
    """Write the config to ``tmp_path/<name>.yaml`` and ``mdp run -c`` it there; exit 0 required."""
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return run([MDP, "run", "-c", f"{name}.yaml"], tmp_path, job_env(tmp_path, **dict(env)))


@pytest.mark.parametrize("case", CASES)
def test_each_example_gives_exactly_its_diagnostics(case, request, monkeypatch):
    monkeypatch.chdir(REPO)
    config = f"tests/fixtures/seed/{case}.yaml"
    actual, status = validate_stderr(config)
    expected_path = SEED / f"{case}.err"
    if request.config.getoption("--update-errors"):
        expected_path.write_text(actual, encoding="utf-8")
    expected = expected_path.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "now")
    )
    assert actual == expected, f"{diff}\nregenerate with: pytest {__file__} --update-errors (then review)"
    assert status == 1
    assert "Traceback" not in actual


def test_every_err_file_has_an_example():
    assert sorted(p.stem for p in SEED.glob("*.err")) == CASES


# -- the file-based example: one source and no edges ---------------------------------------------

SINK_HINT = "add a sink node such as {id: out, type: sink.null} and the edge"
SINK_TYPES = "(sink.jsonl writes the records to a file, sink.store writes bars to SQLite)"


def test_file_based_example_says_which_sink_and_edge_to_add(tmp_path):
    text = seed("file_based")
    assert diagnostics("config.yaml", text) == [
        (4, "the pipeline has no sink (a sink.* node)", f"{SINK_HINT} [source, out] {SINK_TYPES}")
    ]
    fixed = replaced(
        text, ("  edges: []\n", "    - {id: out, type: sink.null}\n  edges:\n    - [source, out]\n")
    )
    nodes = parse_summary(run_job(tmp_path, "config", with_synthetic_source(fixed)).stderr).nodes
    assert nodes["out"]["in"] == TICKS


# -- Example 1: partitioning, then deduplicate, then a registered function ------------------------

FN_NAME_MESSAGE = "fn_name {!r} names a function in the older system's registry, which mdp does not have"
FN_NAME_HINT = (
    'to write the records out, make this node a sink: type: sink.jsonl with params: {{path: "-"}} (stdout), '
    "sink.store for bars, or sink.null; to change each record with a function of yours, write "
    'fn: "<package.module>:{}" and list <package.module> under plugins:'
)


def test_partitioning_example_accepts_key_fn_and_ttl_seconds_and_refuses_fn_name():
    assert diagnostics("partitioning.yaml", seed("partitioning")) == [
        (3, "the pipeline has no sink (a sink.* node)", f"{SINK_HINT} [sink, out] {SINK_TYPES}"),
        (25, FN_NAME_MESSAGE.format("log_quote"), FN_NAME_HINT.format("log_quote")),
    ]


def test_partitioning_example_runs_once_its_last_node_is_a_sink(tmp_path):
    fixed = replaced(
        seed("partitioning"),
        ('      type: operator.map\n      params:\n        fn_name: "log_quote"',
         '      type: sink.jsonl\n      params: {path: "-"}'),
    )  # fmt: skip
    result = run_job(tmp_path, "partitioning", with_synthetic_source(fixed))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    dedupe = parse_summary(result.stderr).nodes["dedupe"]
    assert len(records) == dedupe["out"] == TICKS - dedupe["dropped"] and dedupe["dropped"] > 0
    assert {r["symbol"] for r in records} == {"AAPL", "MSFT", "GOOGL", "AMZN"}
    assert {r["partition"] for r in records} <= {0, 1, 2, 3}


def test_partitioning_example_compiles_with_a_function_of_ones_own_and_a_sink(tmp_path, monkeypatch):
    (tmp_path / "quote_ops.py").write_text("def log_quote(record):\n    return record\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    fixed = replaced(
        seed("partitioning"),
        ('fn_name: "log_quote"', 'fn: "quote_ops:log_quote"'),
        ("  edges:\n", "    - {id: out, type: sink.null}\n  edges:\n"),
        ("    - [dedupe, sink]\n", "    - [dedupe, sink]\n    - [sink, out]\n"),
    )
    analyse("partitioning.yaml", fixed + "plugins: [quote_ops]\n")


# -- Example 2: ticks -> 1m bars -> 5m bars -> a registered function ------------------------------


def test_resampling_example_accepts_default_getters_and_says_what_to_remove(tmp_path):
    text = seed("ohlc_resampling")
    get_time_hint = "remove get_time: resample_ohlc reads each tick's time from ts (integer ns since the epoch) by default"
    assert diagnostics("ohlc_resampling.yaml", text) == [
        (3, "the pipeline has no sink (a sink.* node)", f"{SINK_HINT} [store, out] {SINK_TYPES}"),
        (16, "get_time reads 'timestamp', a field its input does not have", get_time_hint),
        (29, FN_NAME_MESSAGE.format("store_bars"), FN_NAME_HINT.format("store_bars")),
    ]
    text = replaced(
        text,
        ("        get_time: \"lambda x: x['timestamp']\"\n", ""),
        ('      type: operator.map\n      params:\n        fn_name: "store_bars"',
         '      type: sink.store\n      params: {url: "sqlite:///bars.db"}'),
    )  # fmt: skip
    # The 5m node is checked once its input is: bars into coarser bars need no getters.
    assert diagnostics("ohlc_resampling.yaml", text) == [
        (
            22,
            "get_price reads ticks, but this node resamples bars",
            "remove get_price: coarser bars are made from the bars' own open, high, low, close and volume",
        ),
        (
            23,
            "get_time reads ticks, but this node resamples bars",
            "remove get_time: a bar's time is its ts, the start of its window",
        ),
    ]
    text = replaced(
        text,
        ("        get_price: \"lambda x: x['open']\"  # Use 1m bar open\n", ""),
        ("        get_time: \"lambda x: x['start']\"\n", ""),
    )
    run_job(tmp_path, "ohlc_resampling", with_synthetic_source(text))
    with sqlite3.connect(tmp_path / "bars.db") as db:
        intervals = db.execute("SELECT DISTINCT symbol, interval FROM bars").fetchall()
    assert intervals == [("SPY", "5m")]


# -- Example 3: a router whose routes name the nodes, and buffers as "sinks" ---------------------


def test_router_example_derives_the_route_edges_and_says_what_is_missing(tmp_path):
    text = seed("router_multi_sink")
    missing = "missing required key 'max_wait' in params of operator.buffer"
    sink_hint = f"{SINK_HINT}s [aapl_sink, out] and [tsla_sink, out] {SINK_TYPES}"
    assert diagnostics("router_multi_sink.yaml", text) == [
        (3, "the pipeline has no sink (a sink.* node)", sink_hint),
        (21, missing, None),
        (26, missing, None),
    ]
    fixed = replaced(
        text,
        ("max_items: 100\n", "max_items: 100\n        max_wait: 1s\n"),
        ("max_items: 200\n", "max_items: 200\n        max_wait: 1s\n"),
        ("  edges:\n", "    - {id: out, type: sink.null}\n  edges:\n"),
        (
            "    - [source, router]\n",
            "    - [source, router]\n    - [aapl_sink, out]\n    - [tsla_sink, out]\n",
        ),
    )
    nodes = parse_summary(run_job(tmp_path, "router_multi_sink", with_synthetic_source(fixed)).stderr).nodes
    routed = [nodes[buffer]["out"] for buffer in ("aapl_sink", "tsla_sink")]
    assert sum(routed) == nodes["out"]["in"] == TICKS and min(routed) > 0


# -- MDP_UNIFIED_DAG_JSON='{"graph": {...}}' with the older spellings ----------------------------

DAG_JSON = {
    "graph": {
        "nodes": [
            {"id": "source", "type": "provider.synthetic", "params": {"symbols": ["AAPL", "TSLA"], "count": 5000}},
            {"id": "dedupe", "type": "operator.deduplicate",
             "params": {"key_fn": "lambda x: (x['symbol'], x['price'])", "ttl": 0.5}},
            {"id": "router", "type": "operator.router",
             "params": {"routes": {"AAPL": "aapl", "TSLA": "tsla"}, "route_key": "lambda x: x['symbol']"}},
            {"id": "aapl", "type": "operator.buffer", "params": {"max_items": 100, "flush_interval": 0.25}},
            {"id": "tsla", "type": "sink.null"},
            {"id": "out", "type": "sink.null"},
        ],
        "edges": [["source", "dedupe"], ["dedupe", "router"], ["aapl", "out"]],
    }
}  # fmt: skip
CLASSIC_BASE = "name: base-config\nmode: classic\nclassic:\n  spec: {source: synthetic, symbols: [AAPL]}\n"


def test_dag_json_graph_with_older_spellings_overrides_a_classic_config(tmp_path):
    env = (("MDP_UNIFIED_MODE", "dag"), ("MDP_UNIFIED_DAG_JSON", json.dumps(DAG_JSON)))
    summary = parse_summary(run_job(tmp_path, "base-config", CLASSIC_BASE, *env).stderr)
    nodes = summary.nodes
    assert summary.job == "base-config" and nodes["source"]["out"] == 5000
    assert nodes["aapl"]["in"] + nodes["tsla"]["in"] == nodes["dedupe"]["out"] == nodes["router"]["in"]
    assert nodes["out"]["in"] == nodes["aapl"]["out"] == nodes["aapl"]["in"] > 0


def test_a_mistake_in_dag_json_is_located_in_the_variable(tmp_path):
    broken = copy.deepcopy(DAG_JSON)
    broken["graph"]["nodes"][2]["params"] = {"key": "symbol", **broken["graph"]["nodes"][2]["params"]}
    text = json.dumps(broken)
    env = job_env(tmp_path, MDP_UNIFIED_MODE="dag", MDP_UNIFIED_DAG_JSON=text)
    (tmp_path / "base-config.yaml").write_text(CLASSIC_BASE, encoding="utf-8")
    result = run([MDP, "run", "-c", "base-config.yaml"], tmp_path, env, check=False)
    column = text.index("\"lambda x: x['symbol']\"", text.index('"route_key"')) + 1
    assert result.returncode == 1
    expected = f"$MDP_UNIFIED_DAG_JSON:1:{column}: error: operator.router takes key or route_key, not both"
    assert expected in result.stderr, result.stderr


# -- each accepted older spelling compiles exactly as today's ------------------------------------

ALIAS_JOB = """\
name: job
dag:
  nodes:
    - {id: ticks, type: provider.synthetic, params: {symbols: [AAPL, MSFT], count: 100}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1s}}
    - {id: node, type: TYPE, params: {PARAMS}}
    - {id: out, type: sink.null}
    - {id: other, type: sink.null}
  edges: [[ticks, bars], [FEED, node], [node, out]]
"""
LAMBDA = "\"lambda x: x['symbol']\""
WINDOW = "window: 1m, aggs: {n: count()}"
ALIASES = [
    # (type, params as the older system wrote them, params as written today, what feeds the node)
    ("operator.hash_partition", f"num_partitions: 4, key_fn: {LAMBDA}", f"num_partitions: 4, key: {LAMBDA}", "ticks"),
    ("operator.deduplicate", f"key_fn: {LAMBDA}, ttl: 1s", f"key: {LAMBDA}, ttl: 1s", "ticks"),
    ("operator.deduplicate", "ttl: 1.0", "ttl: 1s", "ticks"),
    ("operator.deduplicate", "ttl: 0.25", "ttl: 250ms", "ticks"),
    ("operator.throttle", f"rate: 5, key_fn: {LAMBDA}", f"rate: 5, key: {LAMBDA}", "ticks"),
    ("operator.window", f"{WINDOW}, key_fn: {LAMBDA}", f"{WINDOW}, key: {LAMBDA}", "ticks"),
    ("operator.window", f"{WINDOW}, watermark_lag: 2", f"{WINDOW}, allowed_lateness: 2s", "ticks"),
    ("operator.resample_ohlc", f"window: 1m, key_fn: {LAMBDA}", f"window: 1m, key: {LAMBDA}", "ticks"),
    ("operator.resample_ohlc", "window: 1m, watermark_lag: 2", "window: 1m, allowed_lateness: 2s", "ticks"),
    ("operator.resample_ohlc", "window: 1m, watermark_lag: 1m", "window: 1m, allowed_lateness: 1m", "ticks"),
    ("operator.resample_ohlc", f"window: 1m, get_symbol: {LAMBDA}", "window: 1m", "ticks"),
    ("operator.resample_ohlc", "window: 1m, get_price: \"lambda t: t['price']\"", "window: 1m", "ticks"),
    ("operator.resample_ohlc", "window: 1m, get_time: \"lambda x: x['ts']\"", "window: 1m", "ticks"),
    ("operator.resample_ohlc", f"window: 1m, get_symbol: {LAMBDA}, get_time: ts", "window: 1m", "bars"),
    ("operator.router", f"routes: {{AAPL: out}}, default: other, route_key: {LAMBDA}",
     f"routes: {{AAPL: out}}, default: other, key: {LAMBDA}", "ticks"),
    ("operator.router", f"routes: {{AAPL: out}}, default: other, key_fn: {LAMBDA}",
     f"routes: {{AAPL: out}}, default: other, key: {LAMBDA}", "ticks"),
    ("operator.buffer", "max_items: 10, flush_interval: 0.5", "max_items: 10, max_wait: 500ms", "ticks"),
    ("operator.buffer", "max_items: 10, flush_interval: 2s", "max_items: 10, max_wait: 2s", "ticks"),
]  # fmt: skip


def alias_job(type_name: str, params: str, feed: str) -> str:
    text = ALIAS_JOB.replace("TYPE", type_name).replace("PARAMS", params).replace("FEED", feed)
    return text if "default: other" in params else text.replace("    - {id: other, type: sink.null}\n", "")


def module(text: str) -> str:
    """The module compiled from ``text``, with the config's hash (which differs) blanked out."""
    source = compile_text("job.yaml", text).source
    return source.replace(hashlib.sha256(text.encode("utf-8")).hexdigest(), "<sha256>")


@pytest.mark.parametrize(("type_name", "older", "current", "feed"), ALIASES)
def test_an_older_spelling_compiles_to_the_same_module(type_name, older, current, feed):
    assert module(alias_job(type_name, older, feed)) == module(alias_job(type_name, current, feed))


BOTH = [
    ("operator.hash_partition", f"num_partitions: 4, key: symbol, key_fn: {LAMBDA}", "key_fn", "key"),
    ("operator.deduplicate", f"key: symbol, key_fn: {LAMBDA}, ttl: 1s", "key_fn", "key"),
    ("operator.throttle", f"rate: 5, key: symbol, key_fn: {LAMBDA}", "key_fn", "key"),
    ("operator.window", f"{WINDOW}, key: symbol, key_fn: {LAMBDA}", "key_fn", "key"),
    ("operator.window", f"{WINDOW}, allowed_lateness: 1s, watermark_lag: 2", "watermark_lag", "allowed_lateness"),
    ("operator.resample_ohlc", f"window: 1m, key: symbol, key_fn: {LAMBDA}", "key_fn", "key"),
    ("operator.resample_ohlc", "window: 1m, allowed_lateness: 1s, watermark_lag: 2", "watermark_lag",
     "allowed_lateness"),
    ("operator.router", f"routes: {{AAPL: out}}, key: symbol, route_key: {LAMBDA}", "route_key", "key"),
    ("operator.router", f"routes: {{AAPL: out}}, route_key: symbol, key_fn: {LAMBDA}", "key_fn", "route_key"),
    ("operator.buffer", "max_items: 10, max_wait: 1s, flush_interval: 0.5", "flush_interval", "max_wait"),
]  # fmt: skip


@pytest.mark.parametrize(("type_name", "params", "older", "given"), BOTH)
def test_both_spellings_at_once_is_an_error_at_the_older_one(type_name, params, older, given):
    text = alias_job(type_name, params, "ticks")
    [problem] = diagnostic_error("job.yaml", text).diagnostics
    assert (problem.message, problem.hint) == (f"{type_name} takes {given} or {older}, not both", None)
    line = text.splitlines()[5]
    assert (problem.span.line, problem.span.column) == (6, line.index(f" {older}: ") + len(older) + 4)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("ttl: -1", "ttl is a number of seconds and cannot be negative"),
        ("ttl: .nan", "ttl must be a finite number of seconds, such as 1.5, or a duration such as 1s"),
        ("ttl: 0.0000000001", "ttl: 1e-10 seconds is not a whole number of nanoseconds"),
        ("ttl: 0", "ttl must be longer than 0"),
        ("ttl: 1000000000", "duration '1000000000s' is longer than 3650d, the longest mdp accepts"),
        ("key_fn: 5, ttl: 1s", "key_fn: input should be a valid string in params of operator.deduplicate"),
        ("key_fn: \"lambda x: x['sym']\", ttl: 1s", "unknown field 'sym'"),
    ],
)
def test_a_bad_older_value_is_an_error_where_it_is_written(params, message):
    text = alias_job("operator.deduplicate", params, "ticks")
    [(line, found, _hint)] = diagnostics("job.yaml", text)
    assert (line, found) == (6, message)


def test_components_list_the_older_spellings():
    def described(type_name: str) -> dict[str, str]:
        return {row["name"]: row["description"] for row in params_of(REGISTRY[type_name])}

    assert described("operator.router")["key"].endswith("(older spellings: route_key, key_fn)")
    assert described("operator.buffer")["max_wait"].endswith(
        "(older spelling: flush_interval, a number of seconds)"
    )
    assert described("operator.deduplicate")["ttl"].endswith(
        "(a bare number is seconds, as the older system wrote it)"
    )
    assert described("operator.resample_ohlc")["allowed_lateness"].endswith(
        "(older spelling: watermark_lag, a number of seconds)"
    )
    assert "fn_name" not in described("operator.map")


def test_the_missing_sink_hint_names_every_end_up_to_five_and_quotes_odd_ids():
    ends = ["a", "b c", "d", "e", "f", "g", "out"]
    nodes = "".join(
        f"    - {{id: {json.dumps(e)}, type: operator.filter, params: {{where: 'size > 0'}}}}\n" for e in ends
    )
    edges = "".join(f"    - [ticks, {json.dumps(e)}]\n" for e in ends)
    text = (
        "name: job\ndag:\n  nodes:\n    - {id: ticks, type: provider.synthetic, params: {symbols: [A]}}\n"
        f"{nodes}  edges:\n{edges}"
    )
    [(_, _, hint)] = diagnostics("job.yaml", text)
    assert hint == (
        "add a sink node such as {id: out_1, type: sink.null} and the edges [a, out_1], "
        '["b c", out_1], [d, out_1], [e, out_1] and [f, out_1], and one from each of the 2 other nodes '
        f"without outputs {SINK_TYPES}"
    )
