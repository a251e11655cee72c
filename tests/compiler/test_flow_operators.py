"""deduplicate, throttle and buffer compiled from configs: outputs, counters and located errors."""

from __future__ import annotations

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from tests.support.batch_context import BatchContext
from tests.support.compiled_module import load_compiled

SECOND = 1_000_000_000


def tick(i: int, symbol: str = "AAPL", ts: int | None = None, price: float | None = None) -> dict:
    return {
        "symbol": symbol,
        "ts": i * SECOND if ts is None else ts,
        "price": 100.0 + i % 7 if price is None else price,
        "size": 100,
    }


def job(*nodes: str, sinks: tuple[str, ...] = ("out",)) -> str:
    """A linear job: ticks -> nodes... -> every sink (each node given as 'type: ..., params: {...}')."""
    ids = [f"n{i}" for i in range(len(nodes))]
    lines = [f"    - {{id: {node_id}, {body}}}" for node_id, body in zip(ids, nodes)]
    lines += [f"    - {{id: {sink}, type: sink.jsonl, params: {{path: '-'}}}}" for sink in sinks]
    chain = ["ticks", *ids]
    edges = [f"    - [{a}, {b}]" for a, b in zip(chain, chain[1:])]
    edges += [f"    - [{chain[-1]}, {sink}]" for sink in sinks]
    return (
        "name: flow\ndag:\n  nodes:\n"
        "    - {id: ticks, type: provider.replay, params: {path: unused.csv}}\n"
        + "\n".join(lines)
        + "\n  edges:\n"
        + "\n".join(edges)
        + "\n"
    )


def run(text: str, records: list[dict], batch_size: int = 1024) -> BatchContext:
    """Build the compiled job, push ``records`` in batches, flush; return the context."""
    ctx = BatchContext()
    load_compiled(text).build(ctx)
    for start in range(0, len(records), batch_size):
        ctx.outputs["ticks"](records[start : start + batch_size])
    ctx.flush_operators()
    return ctx


# -- deduplicate ------------------------------------------------------------------------------


def test_deduplicate_drops_repeats_within_ttl_and_counts_them():
    ticks = [tick(0), tick(0), tick(1, price=100.0), tick(2), tick(2), tick(9, price=100.0)]
    text = job('type: operator.deduplicate, params: {key: "(symbol, price)", ttl: 5s}')
    ctx = run(text, ticks)
    # (AAPL, 100.0) at 0s; repeat at 0s and 1s dropped; (AAPL, 102.0) at 2s once; 100.0 again at 9s.
    assert ctx.collected["out"] == [ticks[0], ticks[3], ticks[5]]
    stats = ctx.node_stats["n0"]
    assert (stats.events_in, stats.events_out, stats.dropped) == (6, 3, 3)


def test_deduplicate_default_key_is_the_whole_tick():
    ticks = [tick(0), tick(0), tick(0, price=1.0), tick(1)]
    out = load_compiled(job("type: operator.deduplicate, params: {ttl: 1m}")).run_local({"ticks": ticks})[
        "out"
    ]
    assert out == [ticks[0], ticks[2], ticks[3]]


def test_deduplicate_accepts_a_seed_style_key_fn():
    ticks = [tick(i, symbol=s) for i, s in enumerate(["A", "B", "A", "B", "A"])]
    text = job("type: operator.deduplicate, params: {key_fn: \"lambda x: x['symbol']\", ttl: 3s}")
    out = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert [(t["symbol"], t["ts"] // SECOND) for t in out] == [("A", 0), ("B", 1), ("A", 4)]


def test_deduplicate_result_does_not_depend_on_batch_size():
    ticks = [tick(i // 3, symbol="AB"[i % 2]) for i in range(3000)]
    text = job("type: operator.deduplicate, params: {key: symbol, ttl: 2s}")
    outputs = {size: run(text, ticks, size).collected["out"] for size in (1, 7, 1024)}
    assert outputs[1] == outputs[7] == outputs[1024]
    assert [(t["symbol"], t["ts"]) for t in outputs[1][:4]] == [
        ("A", 0),
        ("B", 0),
        ("A", 2 * SECOND),
        ("B", 2 * SECOND),
    ]


# -- throttle ---------------------------------------------------------------------------------


def test_throttle_drop_passes_a_burst_and_counts_the_rest():
    ctx = run(job("type: operator.throttle, params: {rate: 1, burst: 5}"), [tick(i) for i in range(100)])
    assert ctx.collected["out"] == [tick(i) for i in range(5)]
    stats = ctx.node_stats["n0"]
    assert (stats.events_in, stats.events_out, stats.dropped) == (100, 5, 95)


def test_throttle_per_key():
    ticks = [tick(i, symbol="AB"[i % 2]) for i in range(20)]
    out = run(job("type: operator.throttle, params: {rate: 0.1, burst: 2, key: symbol}"), ticks).collected[
        "out"
    ]
    assert out == ticks[:4]


def test_throttle_delay_holds_the_excess_and_releases_it_in_order_at_the_end():
    ticks = [tick(i) for i in range(50)]
    ctx = run(
        job("type: operator.throttle, params: {rate: 1, burst: 2, on_excess: delay}"), ticks, batch_size=10
    )
    assert ctx.collected["out"] == ticks
    assert ctx.node_stats["n0"].dropped == 0


def test_throttle_delay_bound_drops_the_oldest_held():
    ticks = [tick(i) for i in range(50)]
    text = job("type: operator.throttle, params: {rate: 1, burst: 2, on_excess: delay, max_pending: 10}")
    ctx = run(text, ticks, batch_size=50)
    assert ctx.collected["out"] == ticks[:2] + ticks[40:]
    assert ctx.node_stats["n0"].dropped == 38


# -- buffer -----------------------------------------------------------------------------------


def test_buffer_hands_the_sink_batches_of_max_items_and_a_final_partial_one():
    ticks = [tick(i) for i in range(2500)]
    ctx = run(job("type: operator.buffer, params: {max_items: 300, max_wait: 1h}"), ticks, batch_size=1024)
    assert ctx.batch_sizes["out"] == [300] * 8 + [100]
    assert ctx.collected["out"] == ticks
    stats = ctx.node_stats["n0"]
    assert (stats.events_in, stats.events_out) == (2500, 2500)


def test_buffer_batches_reach_every_branch_of_a_fan_out():
    ticks = [tick(i) for i in range(10)]
    ctx = run(job("type: operator.buffer, params: {max_items: 4, max_wait: 1h}", sinks=("a", "b")), ticks, 10)
    assert ctx.batch_sizes == {"a": [4, 4, 2], "b": [4, 4, 2]}


def test_buffer_after_a_fused_chain_and_before_a_filter():
    ticks = [tick(i) for i in range(20)]
    text = job(
        'type: operator.filter, params: {where: "ts % 2000000000 == 0"}',
        "type: operator.buffer, params: {max_items: 3, max_wait: 1h}",
        'type: operator.filter, params: {where: "ts >= 0"}',
    )
    ctx = run(text, ticks, batch_size=20)
    assert ctx.collected["out"] == ticks[::2]
    assert ctx.batch_sizes["out"] == [3, 3, 3, 1]


def test_dedupe_throttle_buffer_chain_runs_locally():
    ticks = [tick(i // 2) for i in range(40)]  # every tick twice
    text = job(
        "type: operator.deduplicate, params: {ttl: 1s}",
        "type: operator.throttle, params: {rate: 1000}",
        "type: operator.buffer, params: {max_items: 8, max_wait: 1s}",
    )
    out = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert out == ticks[::2]


# -- errors -----------------------------------------------------------------------------------


def diagnostics(text: str) -> set[tuple[int, int, str]]:
    with pytest.raises(DiagnosticError) as caught:
        compile_text("flow.yaml", text)
    return {(d.span.line, d.span.column, d.message) for d in caught.value.diagnostics}


NODE_COLUMN = len("    - {id: n0, ") + 1  # where a node's text starts on its line in job()


@pytest.mark.parametrize(
    "node, at, message",
    [
        ("type: operator.deduplicate, params: {ttl: 0s}", "0s", "ttl must be longer than 0"),
        (
            "type: operator.deduplicate, params: {key: symbol}",
            "{key",
            "missing required key 'ttl' in params of operator.deduplicate",
        ),
        (
            "type: operator.deduplicate, params: {key: symbol, key_fn: \"lambda x: x['symbol']\", ttl: 1s}",
            '"lambda',
            "operator.deduplicate takes key or key_fn, not both",
        ),
        (
            'type: operator.deduplicate, params: {key: "(symbol, prize)", ttl: 1s}',
            "prize",
            "unknown field 'prize'",
        ),
        (
            "type: operator.deduplicate, params: {key_fn: \"lambda x: x['sym']\", ttl: 1s}",
            "x['sym']",
            "unknown field 'sym'",
        ),
        (
            "type: operator.throttle, params: {rate: 0}",
            "0}",
            "rate: input should be greater than 0 in params of operator.throttle",
        ),
        (
            "type: operator.throttle, params: {rate: fast}",
            "fast",
            "rate: input should be a valid number in params of operator.throttle",
        ),
        (
            "type: operator.throttle, params: {rate: 5, burst: 0}",
            "0}",
            "burst: input should be greater than or equal to 1 in params of operator.throttle",
        ),
        (
            "type: operator.throttle, params: {rate: 5, on_excess: queue}",
            "queue",
            "on_excess: input should be 'drop' or 'delay' in params of operator.throttle",
        ),
        (
            "type: operator.throttle, params: {rate: 5, max_pending: 10}",
            "{rate",
            "max_pending applies only with on_excess: delay",
        ),
        ('type: operator.throttle, params: {rate: 5, key: "symbl"}', "symbl", "unknown field 'symbl'"),
        (
            "type: operator.buffer, params: {max_items: 0, max_wait: 1s}",
            "0,",
            "max_items: input should be greater than or equal to 1 in params of operator.buffer",
        ),
        (
            "type: operator.buffer, params: {max_items: 10, max_wait: 5}",
            "5}",
            "a duration is a number with a unit, such as 500ms, 1s, 1m or 1h",
        ),
        (
            "type: operator.buffer, params: {max_wait: 5s}",
            "{max",
            "missing required key 'max_items' in params of operator.buffer",
        ),
    ],
)
def test_bad_params_are_located_errors(node, at, message):
    found = diagnostics(job(node))
    assert (5, NODE_COLUMN + node.index(at), message) in found, found


def test_deduplicate_default_key_needs_tick_fields():
    text = job(
        "type: operator.resample_ohlc, params: {window: 1m}", "type: operator.deduplicate, params: {ttl: 1s}"
    )
    found = diagnostics(text)
    type_column = NODE_COLUMN + len("type: ")
    at_type = [message for line, column, message in found if (line, column) == (6, type_column)]
    assert at_type and all("price" in m and "size" in m for m in at_type), found
