"""Every instantiated component's ``kwargs()`` fits its runtime class: no argument the class
lacks, none it requires left out, for the default params and for params that add arguments."""

from __future__ import annotations

import importlib
import inspect

import pytest

from compiler.components import REGISTRY

BAR_MINUTES = {"window": "1m"}
SAMPLES: dict[str, list[dict]] = {
    "provider.replay": [
        {"path": "ticks.csv"},
        {"path": "ticks.csv", "symbols": ["AAPL"], "ts_range": [2020, 2030], "max_line_bytes": 4096},
    ],
    "provider.synthetic": [{"symbols": ["AAPL"]}, {"symbols": ["AAPL"], "seed": 7, "count": 10, "rate": 5}],
    "provider.ibkr.stream": [
        {"symbols": ["AAPL"]},
        {"symbols": [{"symbol": "ES", "sec_type": "FUT", "expiry": "202503"}], "stream": "tick_by_tick"},
    ],
    "operator.resample_ohlc": [
        BAR_MINUTES,
        {**BAR_MINUTES, "input": "bars", "late": "audit", "idle_timeout": "5s", "max_jump": "none"},
        {**BAR_MINUTES, "get_symbol": "lambda t: t['sym']", "get_price": "lambda t: t['px']"},
    ],
    "operator.window": [{**BAR_MINUTES, "aggs": {"n": "count()", "vwap": "vwap(price, size)"}}],
    "operator.deduplicate": [{"ttl": "1s"}, {"ttl": "1s", "key_fn": "lambda x: x['symbol']"}],
    "operator.throttle": [{"rate": 10}, {"rate": 2.5, "burst": 4, "key": "symbol", "on_excess": "delay"}],
    "operator.buffer": [{"max_items": 100, "max_wait": "1s"}],
    "sink.store": [
        {"url": "sqlite:///bars.db"},
        {"url": "sqlite:///bars.db", "table": "minute_bars"},
        {
            "url": "postgresql://mdp:${PGPASSWORD}@db:5432/bars",
            "table_mode": "ticks",
            "retry": {"max_attempts": 3},
        },
    ],
    "sink.jsonl": [{"path": "out.jsonl"}],
    "sink.parquet": [
        {"path": "out/bars"},
        {"path": "out/bars", "rows_per_file": 10, "max_buffered_rows": 100, "mode": "overwrite"},
    ],
    "provider.redis_stream": [
        {"stream": "ticks"},
        {"stream": "ticks", "group": "g", "consumer": "c", "start": "earliest"},
    ],
    "sink.redis_stream": [{"stream": "ticks"}, {"stream": "ticks", "maxlen": 1000}],
    "sink.null": [{}],
}
"""Params for each type, valid as they stand: the first as short as the type allows, the others
setting the params that make ``kwargs()`` pass more arguments."""


def _runtime_class(runtime: str) -> type:
    module, name = runtime.split(":")
    return getattr(importlib.import_module(module), name)


def _cases() -> list[tuple[str, dict]]:
    return [(type_name, params) for type_name, samples in SAMPLES.items() for params in samples]


def test_every_instantiated_type_has_samples():
    instantiated = {name for name, component in REGISTRY.items() if component.runtime is not None}
    assert instantiated == set(SAMPLES)


@pytest.mark.parametrize(("type_name", "raw"), _cases())
def test_kwargs_bind_to_the_runtime_constructor(type_name, raw):
    component = REGISTRY[type_name]
    params = component.params.model_validate(raw)
    kwargs = component.kwargs(params)
    # operators are built as Cls(node_id, stats, **kwargs), sources and sinks as Cls(node_id, **kwargs)
    leading = ("node", object()) if component.kind == "operator" else ("node",)
    signature = inspect.signature(_runtime_class(component.runtime))
    signature.bind(*leading, **kwargs)  # raises TypeError on a missing or unknown argument
