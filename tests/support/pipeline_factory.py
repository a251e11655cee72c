"""Build small configs from a compact description: ``{id: short type}`` plus edges."""

from __future__ import annotations

import yaml

SHORT_TYPES = {
    "synthetic": ("provider.synthetic", {"symbols": ["A", "B"], "count": 50, "seed": 1}),
    "map": ("operator.map", {"fields": {"notional": "price * size"}}),
    "filter": ("operator.filter", {"where": "size >= 100"}),
    "resample": ("operator.resample_ohlc", {"window": "1s"}),
    "jsonl": ("sink.jsonl", {"path": "-"}),
    "discard": ("sink.null", {}),
    "bar_filter": ("operator.filter", {"where": "volume > 0"}),
    "bar_map": ("operator.map", {"fields": {"range": "high - low"}}),
}


def config_text(nodes: dict[str, str], edges: list[list[str]], name: str = "case") -> str:
    """YAML of a DAG config whose nodes use the default params of their short type."""
    spec = {"name": name, "mode": "dag", "dag": {"nodes": [], "edges": edges}}
    for node_id, short in nodes.items():
        node_type, params = SHORT_TYPES[short]
        spec["dag"]["nodes"].append({"id": node_id, "type": node_type, "params": params})
    return yaml.safe_dump(spec, sort_keys=False)
