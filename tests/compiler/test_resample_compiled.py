"""operator.resample_ohlc through the compiler: bars input, the late side output, seed-style getters."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_text
from tests.support.compiled_module import load_compiled

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_700_000_000 * SECOND


def job(*nodes: str, edges: str) -> str:
    """A config with a synthetic source ``ticks`` and the given nodes (flow-style YAML) and edges."""
    lines = [
        "name: resample_test",
        "dag:",
        "  nodes:",
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [A]}}",
    ]
    lines += [f"    - {{{node}}}" for node in nodes]
    lines.append(f"  edges: {edges}")
    return "\n".join(lines) + "\n"


CHAIN = job(
    "id: bars_1m, type: operator.resample_ohlc, params: {window: 1m, allowed_lateness: 20s}",
    "id: bars_5m, type: operator.resample_ohlc, params: {window: 5m}",
    "id: direct_5m, type: operator.resample_ohlc, params: {window: 5m, allowed_lateness: 20s}",
    "id: chained, type: sink.null",
    "id: direct, type: sink.null",
    edges="[[ticks, bars_1m], [bars_1m, bars_5m], [bars_5m, chained], [ticks, direct_5m], [direct_5m, direct]]",
)


def diagnostics(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(DiagnosticError) as caught:
        compile_text("resample.yaml", text)
    return [(d.span.line, d.span.column, d.message) for d in caught.value.diagnostics]


def column(text: str, line: int, needle: str) -> int:
    """The 1-based column of ``needle`` on (1-based) ``line`` of ``text``."""
    return text.splitlines()[line - 1].index(needle) + 1


# -- bars into coarser bars -------------------------------------------------------------------


def test_input_is_inferred_from_the_upstream_schema():
    pipeline = analyse("resample.yaml", CHAIN)
    assert pipeline.node("bars_1m").params.input is None  # ticks: nothing to settle
    assert pipeline.node("bars_5m").params.input == "bars"
    assert pipeline.node("direct_5m").params.input is None
    source = compile_text("resample.yaml", CHAIN).source
    assert source.count('input="bars"') == 1


MODULE = load_compiled(CHAIN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 3_000))
def test_compiled_1m_into_5m_equals_5m_from_the_ticks(seed, n):
    rng = random.Random(seed)
    ts, ticks = T0, []
    for _ in range(n):
        ts += rng.choice([0, rng.randrange(2 * SECOND), rng.randrange(4 * MINUTE)])
        jitter = rng.randrange(15 * SECOND)  # within the allowed lateness, sometimes beyond it
        ticks.append(
            {
                "symbol": rng.choice("ABCD"),
                "ts": ts - jitter * rng.randrange(3),
                "price": rng.randrange(1, 5_000) / 4,
                "size": rng.randrange(0, 300),
            }
        )
    out = MODULE.run_local({"ticks": ticks})

    def by_key(bars):
        return sorted(bars, key=lambda b: (b["symbol"], b["ts"]))

    chained, direct = by_key(out["chained"]), by_key(out["direct"])
    assert [{**b, "vwap": None} for b in chained] == [{**b, "vwap": None, "interval": "5m"} for b in direct]
    for c, d in zip(chained, direct):
        assert (c["vwap"] is None) == (d["vwap"] is None)
        assert c["vwap"] == pytest.approx(d["vwap"], rel=1e-9) if d["vwap"] is not None else True


def test_explicit_input_overrides_the_inference():
    text = job(
        "id: b1, type: operator.resample_ohlc, params: {window: 1m}",
        "id: b5, type: operator.resample_ohlc, params: {window: 5m, input: ticks}",
        "id: out, type: sink.null",
        edges="[[ticks, b1], [b1, b5], [b5, out]]",
    )
    [(line, col, message)] = diagnostics(text)
    assert (line, col) == (6, column(text, 6, "operator.resample_ohlc"))
    assert "needs fields price, size" in message


def test_explicit_bars_input_needs_bar_fields():
    text = job(
        "id: b5, type: operator.resample_ohlc, params: {window: 5m, input: bars}",
        "id: out, type: sink.null",
        edges="[[ticks, b5], [b5, out]]",
    )
    [(_, _, message)] = diagnostics(text)
    assert "needs fields interval, open, high, low, close, volume, count, vwap" in message


@pytest.mark.parametrize(
    "params, at, message",
    [
        ("{window: 7m}", "7m", "window 7m is not a whole multiple of 5m, the interval of the bars from 'b5'"),
        ("{window: 10m, offset: 1m}", "1m}", "offset 1m splits the 5m bars from 'b5' (their offset is 0s)"),
        (
            "{window: 10m, get_price: \"lambda t: t['close']\"}",
            '"lambda',
            "get_price reads ticks, but this node resamples bars",
        ),
        (
            "{window: 10m, late: ''}",
            "''",
            "late: string should have at least 1 character",
        ),
    ],
)
def test_bars_input_errors_point_at_the_param(params, at, message):
    text = job(
        "id: b5, type: operator.resample_ohlc, params: {window: 5m}",
        f"id: coarse, type: operator.resample_ohlc, params: {params}",
        "id: out, type: sink.null",
        edges="[[ticks, b5], [b5, coarse], [coarse, out]]",
    )
    found = diagnostics(text)
    where = (6, column(text, 6, at))
    assert any((line, col) == where and said.startswith(message) for line, col, said in found), found


def test_the_interval_check_looks_through_nodes_that_pass_records_on():
    text = job(
        "id: b1, type: operator.resample_ohlc, params: {window: 1m}",
        'id: busy, type: operator.filter, params: {where: "count > 1"}',
        "id: b90, type: operator.resample_ohlc, params: {window: 90s}",
        "id: out, type: sink.null",
        edges="[[ticks, b1], [b1, busy], [busy, b90], [b90, out]]",
    )
    message = "window 90s is not a whole multiple of 1m, the interval of the bars from 'b1'"
    assert diagnostics(text) == [(7, column(text, 7, "90s"), message)]


def test_bars_of_unknown_interval_are_checked_at_run_time():
    """Bars that no resampler upstream made (here a map builds them) are checked as they come."""
    text = job(
        "id: as_bars, type: operator.map, params: {expr: \"{'symbol': symbol, 'ts': ts - ts % 60000000000, "
        "'interval': '1m', 'open': price, 'high': price, 'low': price, 'close': price, 'volume': size, "
        "'count': 1, 'vwap': price}\"}",
        "id: b90, type: operator.resample_ohlc, params: {window: 90s}",
        "id: out, type: sink.null",
        edges="[[ticks, as_bars], [as_bars, b90], [b90, out]]",
    )
    module = load_compiled(text)
    ticks = [{"symbol": "A", "ts": T0 + i * SECOND, "price": 1.0, "size": 1} for i in range(0, 200, 10)]
    with pytest.raises(ValueError, match="cannot resample 1m bars into 90s bars"):
        module.run_local({"ticks": ticks})


def test_offsets_that_keep_the_fine_bars_whole_are_accepted():
    text = job(
        "id: b5, type: operator.resample_ohlc, params: {window: 5m, offset: 1m}",
        "id: b15, type: operator.resample_ohlc, params: {window: 15m, offset: 6m}",
        "id: out, type: sink.null",
        edges="[[ticks, b5], [b5, b15], [b15, out]]",
    )
    ticks = [{"symbol": "A", "ts": T0 + i * MINUTE, "price": float(i), "size": 1} for i in range(40)]
    bars = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert sum(b["count"] for b in bars) == 40
    assert all((b["ts"] - 6 * MINUTE) % (15 * MINUTE) == 0 for b in bars)


# -- late ticks to a side output ---------------------------------------------------------------


def test_late_ticks_reach_the_named_node_and_the_bars_stay_the_same():
    text = job(
        "id: bars, type: operator.resample_ohlc, params: {window: 1m, late: late_ticks}",
        "id: out, type: sink.null",
        "id: late_ticks, type: sink.null",
        edges="[[ticks, bars], [bars, out]]",
    )
    ticks = [
        {"symbol": "A", "ts": T0 + 30 * SECOND, "price": 1.0, "size": 1},
        {"symbol": "A", "ts": T0 + 10 * SECOND, "price": 2.0, "size": 1},  # late
        {"symbol": "A", "ts": T0 + 90 * SECOND, "price": 3.0, "size": 1},
        {"symbol": "A", "ts": T0, "price": 4.0, "size": 1},  # late
    ]
    out = load_compiled(text).run_local({"ticks": ticks})
    assert out["late_ticks"] == [ticks[1], ticks[3]]
    assert [b["count"] for b in out["out"]] == [1, 1]


def test_late_side_output_to_an_unknown_node_is_an_error():
    text = job(
        "id: bars, type: operator.resample_ohlc, params: {window: 1m, late: late_tics}",
        "id: out, type: sink.null",
        "id: late_ticks, type: sink.null",
        edges="[[ticks, bars], [bars, out]]",
    )
    found = diagnostics(text)
    assert any(line == 5 and "unknown node 'late_tics'" in message for line, _, message in found), found


# -- seed-style getters -----------------------------------------------------------------------

RENAMED = "expr: \"{'sym': symbol, 't': ts, 'px': price, 'size': size}\""


def test_getters_replace_symbol_price_and_time_fields():
    text = job(
        f"id: rename, type: operator.map, params: {{{RENAMED}}}",
        "id: bars, type: operator.resample_ohlc, params: {window: 1m, get_symbol: \"lambda x: x['sym']\", "
        "get_price: \"lambda t: t['px'] * 2\", get_time: \"lambda t: t['t']\"}",
        "id: out, type: sink.null",
        edges="[[ticks, rename], [rename, bars], [bars, out]]",
    )
    source = compile_text("resample.yaml", text).source
    assert 'get_symbol=itemgetter("sym")' in source and 'key=itemgetter("sym")' in source
    assert 'get_price=lambda r: r["px"] * 2' in source
    ticks = [
        {"symbol": "A", "ts": T0, "price": 1.0, "size": 2},
        {"symbol": "B", "ts": T0 + SECOND, "price": 5.0, "size": 1},
        {"symbol": "A", "ts": T0 + 2 * SECOND, "price": 3.0, "size": 2},
    ]
    bars = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert [(b["symbol"], b["open"], b["close"], b["volume"], b["vwap"]) for b in bars] == [
        ("A", 2.0, 6.0, 4, 4.0),
        ("B", 10.0, 10.0, 1, 10.0),
    ]


def test_getters_leave_only_the_fields_they_do_not_replace_required():
    text = job(
        f"id: rename, type: operator.map, params: {{{RENAMED}}}",
        "id: bars, type: operator.resample_ohlc, params: {window: 1m, get_symbol: \"lambda x: x['sym']\", "
        "get_price: \"lambda t: t['prx']\"}",
        "id: out, type: sink.null",
        edges="[[ticks, rename], [rename, bars], [bars, out]]",
    )
    found = diagnostics(text)
    assert {message for _, _, message in found} == {"unknown field 'prx'", "unknown field 'ts'"}
    assert (6, column(text, 6, "t['prx']"), "unknown field 'prx'") in found


def test_an_explicit_key_groups_while_get_symbol_labels():
    text = job(
        'id: bars, type: operator.resample_ohlc, params: {window: 1m, key: "size > 1", '
        "get_symbol: \"lambda x: x['symbol']\"}",
        "id: out, type: sink.null",
        edges="[[ticks, bars], [bars, out]]",
    )
    ticks = [{"symbol": s, "ts": T0 + i, "price": 1.0, "size": 1 + i % 2} for i, s in enumerate("ABCD")]
    bars = load_compiled(text).run_local({"ticks": ticks})["out"]
    assert [(b["symbol"], b["count"]) for b in bars] == [("A", 2), ("B", 2)]


def test_the_interval_check_looks_through_stateless_nodes():
    text = job(
        "id: b1, type: operator.resample_ohlc, params: {window: 1m}",
        "id: relabel, type: operator.map, params: {fields: {symbol: \"f'{symbol}.X'\"}}",
        "id: b90, type: operator.resample_ohlc, params: {window: 90s}",
        "id: out, type: sink.null",
        edges="[[ticks, b1], [b1, relabel], [relabel, b90], [b90, out]]",
    )
    [(line, _column, message)] = diagnostics(text)
    assert message.startswith("window 90s is not a whole multiple of 1m") and line == 7
