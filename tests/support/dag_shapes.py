"""Configs of any size in two shapes: a wide fan-out and a long chain (for tests and bench/compile.py)."""

from __future__ import annotations

import yaml

SOURCE = {"id": "ticks", "type": "provider.synthetic", "params": {"symbols": ["AAA", "BBB"], "seed": 7}}


def fan_out_yaml(size: int) -> str:
    """About ``size`` nodes: a source feeding (size - 1) // 3 branches of filter -> 1-minute
    OHLC bars -> sink.null, each filter with its own threshold."""
    nodes, edges = [SOURCE], []
    for i in range((size - 1) // 3):
        nodes += [
            {"id": f"f{i}", "type": "operator.filter", "params": {"where": f"size >= {i}"}},
            {"id": f"bars{i}", "type": "operator.resample_ohlc", "params": {"window": "1m"}},
            {"id": f"out{i}", "type": "sink.null"},
        ]
        edges += [["ticks", f"f{i}"], [f"f{i}", f"bars{i}"], [f"bars{i}", f"out{i}"]]
    return _dump("fan_out", nodes, edges)


def chain_yaml(size: int) -> str:
    """``size`` nodes in a row: a source, filters (``price > i``) alternating with maps
    (``price = price + 0.01``), 1-minute OHLC bars and sink.null."""
    nodes = [SOURCE]
    for i in range(size - 3):
        if i % 2:
            nodes.append(
                {"id": f"m{i}", "type": "operator.map", "params": {"fields": {"price": "price + 0.01"}}}
            )
        else:
            nodes.append({"id": f"f{i}", "type": "operator.filter", "params": {"where": f"price > {i}"}})
    nodes += [
        {"id": "bars", "type": "operator.resample_ohlc", "params": {"window": "1m"}},
        {"id": "out", "type": "sink.null"},
    ]
    ids = [node["id"] for node in nodes]
    return _dump("chain", nodes, [[a, b] for a, b in zip(ids, ids[1:])])


def _dump(name: str, nodes: list[dict], edges: list[list[str]]) -> str:
    return yaml.safe_dump(
        {"name": name, "mode": "dag", "dag": {"nodes": nodes, "edges": edges}}, sort_keys=False
    )
