"""operator.window through the compiler: aggregations parsed and checked, output schema, results."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import analyse, compile_text
from tests.support.compiled_module import load_compiled

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def job(params: str, *after: str, edges: str = "[[ticks, stats], [stats, out]]") -> str:
    """A config: synthetic ticks -> operator.window with ``params`` -> more nodes -> sink ``out``."""
    lines = [
        "name: window_test", "dag:", "  nodes:",
        "    - {id: ticks, type: provider.synthetic, params: {symbols: [A]}}",
        f"    - {{id: stats, type: operator.window, params: {params}}}",
        *[f"    - {{{node}}}" for node in after],
        "    - {id: out, type: sink.null}",
        f"  edges: {edges}",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def diagnostics(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(DiagnosticError) as caught:
        compile_text("window.yaml", text)
    return [(d.span.line, d.span.column, d.message) for d in caught.value.diagnostics]


def at(text: str, line: int, needle: str) -> tuple[int, int]:
    """(line, 1-based column) of ``needle`` on ``line`` of ``text``."""
    return line, text.splitlines()[line - 1].index(needle) + 1


def random_ticks(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    ts, ticks = T0, []
    for _ in range(n):
        ts += rng.choice([0, rng.randrange(SECOND), rng.randrange(5 * SECOND)])
        ticks.append(
            {
                "symbol": rng.choice(["AAA", "BBB", "CCC"]),
                "ts": ts,
                "price": rng.randrange(1, 2_000) / 8,
                "size": rng.randrange(1, 500),
            }
        )
    return ticks


STATS = (
    '{window: 2s, aggs: {n: "count()", volume: "sum(size)", notional: "sum(price * size)", '
    'lo: "min(price)", hi: "max(price)", avg: "mean(price)", first_px: "first(price)", '
    'last_px: "last(lambda t: t[\'price\'])", vwap: "vwap(price, size)"}}'
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_window_matches_pandas(seed):
    ticks = random_ticks(seed, 3_000)
    got = load_compiled(job(STATS)).run_local({"ticks": ticks})["out"]

    df = pd.DataFrame(ticks)
    df["dt"] = pd.to_datetime(df["ts"], unit="ns", utc=True)
    df["pv"] = df["price"] * df["size"]
    grouped = df.groupby(
        ["symbol", pd.Grouper(key="dt", freq="2s", closed="left", label="left", origin="epoch")]
    )
    frame = grouped.agg(
        n=("price", "size"),
        volume=("size", "sum"),
        notional=("pv", "sum"),
        lo=("price", "min"),
        hi=("price", "max"),
        avg=("price", "mean"),
        first_px=("price", "first"),
        last_px=("price", "last"),
    ).reset_index()
    frame = frame[frame["n"] > 0]
    assert len(got) == len(frame)
    got = sorted(got, key=lambda r: (r["symbol"], r["ts"]))
    for row, g in zip(frame.itertuples(), got):
        assert list(g) == [
            "symbol",
            "ts",
            "window_end",
            "n",
            "volume",
            "notional",
            "lo",
            "hi",
            "avg",
            "first_px",
            "last_px",
            "vwap",
        ]
        assert (g["symbol"], g["ts"], g["window_end"]) == (
            row.symbol,
            row.dt.value,
            row.dt.value + 2 * SECOND,
        )
        assert (g["n"], g["volume"], g["lo"], g["hi"], g["first_px"], g["last_px"]) == (
            row.n,
            row.volume,
            row.lo,
            row.hi,
            row.first_px,
            row.last_px,
        )
        assert g["notional"] == pytest.approx(row.notional) and g["avg"] == pytest.approx(row.avg)
        assert g["vwap"] == pytest.approx(row.notional / row.volume)


def test_output_schema_feeds_downstream_checks():
    text = job(
        '{window: 1s, key: "(symbol, size > 100)", aggs: {n: "count()"}}',
        'id: busy, type: operator.filter, params: {where: "n > 1 and window_end > ts and nn"}',
        edges="[[ticks, stats], [stats, busy], [busy, out]]",
    )
    [(line, col, message)] = diagnostics(text)
    assert (line, col, message) == (*at(text, 6, 'nn"'), "unknown field 'nn'")
    pipeline = analyse("window.yaml", text.replace(" and nn", ""))
    assert pipeline.node("stats").schema.names() == ["key", "ts", "window_end", "n"]


def test_plain_and_tuple_keys_name_their_fields():
    ticks = [{"symbol": "A", "ts": T0 + i, "price": 1.0, "size": 50 * i} for i in range(4)]
    pairs = load_compiled(
        job("{window: 1s, key: \"lambda x: (x['symbol'], x['size'])\", aggs: {n: \"count()\"}}")
    )
    assert [list(r) for r in pairs.run_local({"ticks": ticks})["out"]][0] == [
        "symbol",
        "size",
        "ts",
        "window_end",
        "n",
    ]
    expression = load_compiled(
        job('{window: 1s, key: "size >= 100", aggs: {n: "count()", s: "sum(math.sqrt(size))"}}')
    )
    out = expression.run_local({"ticks": ticks})["out"]
    assert [(r["key"], r["n"]) for r in out] == [(False, 2), (True, 2)]
    assert out[1]["s"] == pytest.approx(100**0.5 + 150**0.5)


def test_late_records_can_go_to_a_side_output():
    text = job('{window: 1s, late: late_ticks, aggs: {n: "count()"}}', "id: late_ticks, type: sink.null")
    ticks = [
        {"symbol": "A", "ts": T0 + 5, "price": 1.0, "size": 1},
        {"symbol": "A", "ts": T0, "price": 2.0, "size": 1},
    ]
    out = load_compiled(text).run_local({"ticks": ticks})
    assert out["late_ticks"] == [ticks[1]] and [r["n"] for r in out["out"]] == [1]


@pytest.mark.parametrize(
    "aggs, needle, message",
    [
        ('{x: "avg(price)"}', '"avg', "unknown aggregation 'avg'"),
        ('{x: "vwap(price)"}', '"vwap', "vwap takes two arguments, not 1"),
        ('{x: "sum()"}', '"sum', "sum takes one argument, not 0"),
        ('{x: "count(price, size)"}', '"count', "count takes no argument or one, not 2"),
        ('{x: "price * 2"}', '"price', "an aggregation is written fn(expr), such as sum(size)"),
        (
            '{x: "sum(size=1)"}',
            '"sum',
            "the arguments of an aggregation are plain expressions (no keywords, no *)",
        ),
        (
            '{window_end: "max(ts)"}',
            '"max',
            "output field 'window_end' is already the window's window_end field",
        ),
        ('{symbol: "last(symbol)"}', '"last', "output field 'symbol' is already the window's key field"),
        ('{x: "vwap(price, sise)"}', "sise", "unknown field 'sise'"),
        ('{x: "mean(price.real)"}', "price.real", "attribute access is not allowed"),
        (
            "{}",
            "{}",
            "aggs: dictionary should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_aggregation_errors_are_located(aggs, needle, message):
    text = job(f"{{window: 1m, aggs: {aggs}}}")
    found = diagnostics(text)
    assert any(
        tuple(where) == at(text, 5, needle) and said.startswith(message) for *where, said in found
    ), found


def test_a_key_field_may_not_clash_with_the_window_fields():
    text = job('{window: 1m, key: ts, aggs: {n: "count()"}}')
    assert (*at(text, 5, "ts, aggs"), "the key field 'ts' would clash with the window's 'ts'") in diagnostics(
        text
    )
