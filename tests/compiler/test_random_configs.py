"""Property: any config either compiles to a module that imports and runs, or fails with
diagnostics — never with an internal exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import DiagnosticError
from tests.support.compiled_module import load_compiled

VALID = [
    "price * size",
    "size >= 100",
    "bid is None",
    "symbol in ('A', 'B')",
    "math.sqrt(abs(price))",
    "lambda x: x['price'] > 1",
    "max(price, 1) if size else 0",
    "f'{symbol}-{ts}'",
    "round(price, 2)",
    "lambda x: x.get('bid', 0) > 0",
    "1 / (size - size)",
    "{'symbol': symbol, 'ts': ts, 'price': price, 'size': size}",
    "lambda x: {**x, 'n': x['price'] * 2}",
]
INVALID = [
    "prize > 0",
    "lambda x, y: 1",
    "__import__('os')",
    "price.__class__",
    "[i for i in ()]",
    "",
    "price >",
    "notional / 2",
    "open(1)",
]
FIELDS = ["symbol", "ts", "price", "size", "bid", "notional", "prize", "volume"]
NEW_FIELDS = ["notional", "x", "bid"]  # maps never overwrite the fields operators compute with
expressions = st.one_of(*[st.sampled_from(VALID)] * 6, st.sampled_from(INVALID))
PROVIDERS = {
    "provider.synthetic": st.fixed_dictionaries(
        {"symbols": st.just(["A", "B"]), "count": st.integers(0, 300)}
    ),
    "provider.replay": st.just({"path": "missing.csv"}),
}
OPERATORS = {
    "operator.filter": st.one_of(
        *[st.fixed_dictionaries({"where": expressions})] * 4,
        st.fixed_dictionaries({"predicate": expressions}),
        st.just({}),
    ),
    "operator.map": st.one_of(
        st.fixed_dictionaries(
            {"fields": st.dictionaries(st.sampled_from(NEW_FIELDS), expressions, max_size=2)}
        ),
        st.fixed_dictionaries({"select": st.lists(st.sampled_from(FIELDS), max_size=4)}),
        st.fixed_dictionaries({"expr": st.sampled_from(VALID[-3:] + INVALID[:2])}),
        st.fixed_dictionaries(
            {"fn": st.sampled_from(VALID + ["tests.support.plugin_example:mid_price", "no.such:fn"])}
        ),
    ),
    "operator.resample_ohlc": st.fixed_dictionaries(
        {"window": st.sampled_from(["1s", "1m", "1s", "1s", "1s", "0s", "x", 5])},
        optional={
            "allowed_lateness": st.sampled_from(["0s", "2s"]),
            "key": st.sampled_from(["symbol", "symbol", "prize"]),
        },
    ),
    "operator.hash_partition": st.fixed_dictionaries(
        {"num_partitions": st.sampled_from([1, 4, 0])},
        optional={"key": st.sampled_from(["symbol", "(symbol, size)", "prize"])},
    ),
    "operator.deduplicate": st.fixed_dictionaries(
        {"ttl": st.sampled_from(["1s", "0s", "1m"])},
        optional={"key": st.sampled_from(["(symbol, price)", "symbol", "prize"])},
    ),
    "operator.window": st.fixed_dictionaries(
        {
            "window": st.sampled_from(["1s", "1m"]),
            "aggs": st.dictionaries(
                st.sampled_from(["n", "total", "hi"]),
                st.sampled_from(
                    ["count()", "sum(size)", "max(price)", "mean(prize)", "vwap(price, size)", "nope(size)"]
                ),
                min_size=1,
                max_size=2,
            ),
        }
    ),
    "operator.buffer": st.fixed_dictionaries(
        {"max_items": st.sampled_from([1, 7, 0]), "max_wait": st.sampled_from(["0s", "1s"])}
    ),
    "operator.throttle": st.fixed_dictionaries(
        {"rate": st.sampled_from([5, 1000, -1])}, optional={"on_excess": st.sampled_from(["drop", "delay"])}
    ),
}
SINKS = {
    "sink.null": st.just({}),
    "sink.jsonl": st.just({"path": "-"}),
    "sink.store": st.just({"url": "sqlite:///x.db"}),
}


@st.composite
def configs(draw):
    """A source -> operators -> sink chain, sometimes with extra edges (fan-out, unions, cycles,
    unknown ids) and nodes of wrong types or bad params."""
    middle = draw(st.lists(st.sampled_from(sorted(OPERATORS) * 8 + ["operator.nope"]), max_size=5))
    types = [draw(st.sampled_from(sorted(PROVIDERS)))] + middle + [draw(st.sampled_from(sorted(SINKS)))]
    ids = [f"n{i}" for i in range(len(types))]
    catalogue = PROVIDERS | OPERATORS | SINKS | {"operator.nope": st.just({})}
    nodes = [{"id": i, "type": t, "params": draw(catalogue[t])} for i, t in zip(ids, types)]
    edges = [[a, b] for a, b in zip(ids, ids[1:])]
    if draw(st.integers(0, 5)) == 0:
        edges.append(draw(st.lists(st.sampled_from(ids + ["ghost"]), min_size=2, max_size=2)))
    config = {"name": "prop", "mode": "dag", "dag": {"nodes": nodes, "edges": edges}}
    if draw(st.booleans()):  # the plugin function in OPERATORS runs only when the config opts in
        config["plugins"] = ["tests.support.plugin_example"]
    return config


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_random_config_compiles_and_runs_or_reports(config):
    text = yaml.safe_dump(config, sort_keys=False)
    try:
        module = load_compiled(text)
    except DiagnosticError as exc:
        assert exc.diagnostics, "a DiagnosticError must carry diagnostics"
        assert all(d.span.line >= 1 and d.span.column >= 1 for d in exc.diagnostics)
        return
    ticks = [{"symbol": "AB"[i % 2], "ts": i * 10**8, "price": 1.0 + i, "size": i * 50} for i in range(50)]
    sources = [n["id"] for n in config["dag"]["nodes"] if n["type"].startswith("provider.")]
    result = module.run_local({source: ticks for source in sources})
    assert isinstance(result, dict)
