"""What fused map/filter chains compute, checked against plain Python on the same records."""

from __future__ import annotations

import copy
import math

import pytest

from tests.support.compiled_module import load_compiled

TICKS = [
    {"symbol": "AAPL", "ts": 1_000 + i, "price": 100.0 + i, "size": (i * 37) % 700, "bid": 99.5 + i}
    for i in range(200)
]
for index in range(0, 200, 7):
    del TICKS[index]["bid"]  # an optional field, absent from some ticks
for index in range(0, 200, 2):
    TICKS[index]["ask"] = TICKS[index]["price"] + 0.5


def _job(middle: str, edges: str = "") -> str:
    return f"""
name: t
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: unused.csv}}}}
{middle}
    - {{id: out, type: sink.jsonl, params: {{path: "-"}}}}
  edges:
{edges}
"""


def _chain(*nodes: str) -> str:
    ids = ["ticks"] + [f"n{i}" for i in range(len(nodes))] + ["out"]
    middle = "\n".join(f"    - {{id: n{i}, {body}}}" for i, body in enumerate(nodes))
    edges = "\n".join(f"    - [{a}, {b}]" for a, b in zip(ids, ids[1:]))
    return _job(middle, edges)


def _run(text: str, ticks=TICKS) -> list[dict]:
    original = copy.deepcopy(ticks)
    result = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert ticks == original, "input records must never be modified"
    return result


def test_map_filter_select_chain_matches_python():
    out = _run(
        _chain(
            'type: operator.map, params: {fields: {notional: "price * size"}}',
            'type: operator.filter, params: {where: "size >= 500"}',
            "type: operator.map, params: {select: [symbol, ts, notional]}",
        )
    )
    expected = [
        {"symbol": t["symbol"], "ts": t["ts"], "notional": t["price"] * t["size"]}
        for t in TICKS
        if t["size"] >= 500
    ]
    assert out == expected and len(out) > 10


def test_fields_see_the_input_record_not_their_siblings():
    out = _run(_chain('type: operator.map, params: {fields: {price: "price * 2", double: "price * 2"}}'))
    assert all(r["price"] == r["double"] for r in out)
    assert [r["price"] for r in out] == [t["price"] * 2 for t in TICKS]


def test_later_maps_read_fields_computed_earlier():
    out = _run(
        _chain(
            'type: operator.map, params: {fields: {notional: "price * size"}}',
            'type: operator.filter, params: {where: "notional > 20000"}',
            'type: operator.map, params: {fields: {k: "notional / 1000"}, select: [k, symbol]}',
        )
    )
    expected = [
        {"k": t["price"] * t["size"] / 1000, "symbol": "AAPL"}
        for t in TICKS
        if t["price"] * t["size"] > 20000
    ]
    assert out == expected


def test_expr_builds_a_new_record():
    out = _run(_chain("type: operator.map, params: {expr: \"{'s': symbol, 'p2': math.floor(price / 3)}\"}"))
    assert out == [{"s": "AAPL", "p2": math.floor(t["price"] / 3)} for t in TICKS]


def test_seed_style_lambdas():
    out = _run(
        _chain(
            "type: operator.filter, params: {predicate: \"lambda x: x['size'] > 100 and x.get('bid', 0) > 0\"}",
            "type: operator.map, params: {fn: \"lambda x: {**x, 'spread': x['price'] - x['bid']}\"}",
        )
    )
    expected = [
        {**t, "spread": t["price"] - t["bid"]} for t in TICKS if t["size"] > 100 and t.get("bid", 0) > 0
    ]
    assert out == expected


def test_optional_field_reads_as_none_when_absent():
    out = _run(_chain('type: operator.filter, params: {where: "bid is None"}'))
    assert out == [t for t in TICKS if "bid" not in t]


def test_plugin_function_can_drop_records():
    out = _run(
        _chain("type: operator.map, params: {fn: 'tests.support.plugin_example:mid_price'}")
        + "plugins: [tests.support.plugin_example]\n"
    )
    expected = [{**t, "mid": (t["bid"] + t["ask"]) / 2} for t in TICKS if "ask" in t and "bid" in t]
    assert out == expected and 0 < len(out) < len(TICKS)


def test_records_whose_expression_raises_are_counted_not_lost(caplog):
    text = _chain('type: operator.map, params: {fields: {inv: "1 / size"}}')
    module = load_compiled(text)
    from runtime_lib.context import LocalContext

    ctx = LocalContext()
    module.build(ctx)
    ctx.outputs["ticks"](TICKS)
    zero = sum(t["size"] == 0 for t in TICKS)
    assert zero > 0
    assert len(ctx.collected["out"]) == len(TICKS) - zero
    assert ctx.node_stats["n0"].errors == zero
    assert "ZeroDivisionError" in caplog.text


def test_filter_runs_before_a_map_it_does_not_depend_on():
    """A map's fields are computed only for records that pass the filter after it."""
    out = _run(
        _chain(
            'type: operator.map, params: {fields: {inv: "1 / size"}}',
            'type: operator.filter, params: {where: "size > 0"}',
        )
    )
    assert out == [{**t, "inv": 1 / t["size"]} for t in TICKS if t["size"] > 0]


def test_fan_out_branches_see_unchanged_records():
    text = _job(
        """    - {id: a, type: operator.map, params: {fields: {price: "price + 1"}}}
    - {id: b, type: operator.map, params: {fields: {price: "price - 1"}}}
    - {id: out2, type: sink.null}""",
        "    - [ticks, a]\n    - [ticks, b]\n    - [a, out]\n    - [b, out2]",
    )
    module = load_compiled(text)
    result = module.run_local({"ticks": TICKS})
    assert [r["price"] for r in result["out"]] == [t["price"] + 1 for t in TICKS]
    assert [r["price"] for r in result["out2"]] == [t["price"] - 1 for t in TICKS]


def test_union_of_two_branches():
    text = _job(
        """    - {id: big, type: operator.filter, params: {where: "size >= 500"}}
    - {id: small, type: operator.filter, params: {where: "size < 100"}}""",
        "    - [ticks, big]\n    - [ticks, small]\n    - [big, out]\n    - [small, out]",
    )
    out = load_compiled(text).run_local({"ticks": TICKS})["out"]
    assert sorted(r["ts"] for r in out) == sorted(
        t["ts"] for t in TICKS if t["size"] >= 500 or t["size"] < 100
    )


def test_unknown_source_in_run_local_is_refused():
    module = load_compiled(_chain('type: operator.filter, params: {where: "size > 0"}'))
    with pytest.raises(ValueError, match="not a source of this job: nope"):
        module.run_local({"nope": []})


def test_counters_balance_when_records_are_set_aside_and_dropped():
    """Every member: in = out + dropped (+ errors on the first); the set-aside record leaves at once."""
    from runtime_lib.context import LocalContext

    module = load_compiled(
        _chain(
            'type: operator.filter, params: {where: "1 / size > 0"}',
            'type: operator.filter, params: {where: "size >= 300"}',
            'type: operator.filter, params: {where: "price < 250"}',
            'type: operator.map, params: {fields: {twice: "price * 2"}}',
        )
    )
    ctx = LocalContext()
    module.build(ctx)
    ctx.outputs["ticks"](TICKS)
    stats = [ctx.node_stats[f"n{i}"] for i in range(4)]
    zero = sum(t["size"] == 0 for t in TICKS)
    big = [t for t in TICKS if t["size"] >= 300]
    kept = [t for t in big if t["price"] < 250]
    assert [(s.events_in, s.events_out, s.dropped, s.errors) for s in stats] == [
        (len(TICKS), len(TICKS) - zero, 0, zero),  # 1 / 0 raises: set aside, not dropped
        (len(TICKS) - zero, len(big), len(TICKS) - zero - len(big), 0),
        (len(big), len(kept), len(big) - len(kept), 0),
        (len(kept), len(kept), 0, 0),
    ]
    assert len(ctx.collected["out"]) == len(kept) > 0
