"""ResampleOHLC: pandas as the oracle for random streams, plus hand-worked edge cases."""

from __future__ import annotations

import copy
import math
from operator import itemgetter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.operators.resample_ohlc import ResampleOHLC
from runtime_lib.stats import NodeStats

SECOND = 1_000_000_000
BAR_FIELDS = ["symbol", "ts", "interval", "open", "high", "low", "close", "volume", "count", "vwap"]


def make(**kw) -> ResampleOHLC:
    kw = {"window_ns": 60, "interval": "1m", "key": itemgetter("symbol"), **kw}
    return ResampleOHLC("bars", NodeStats("bars", "operator.resample_ohlc"), **kw)


def tick(ts: int, price: float, size: int = 1, symbol: str = "A") -> dict:
    return {"symbol": symbol, "ts": ts, "price": price, "size": size}


def ohlc(bar: dict) -> tuple:
    return (
        bar["ts"],
        bar["open"],
        bar["high"],
        bar["low"],
        bar["close"],
        bar["volume"],
        bar["count"],
    )


def pandas_bars(ticks: list[dict], window_ns: int, offset_ns: int) -> list[dict]:
    """The oracle: pandas resample (closed='left', label='left', epoch origin) per symbol."""
    if not ticks:
        return []
    df = pd.DataFrame(ticks).sort_values("ts", kind="stable")  # ties keep arrival order
    df["dt"] = pd.to_datetime(df["ts"], unit="ns", utc=True)
    df["pv"] = df["price"] * df["size"]
    bars = []
    for symbol, g in df.groupby("symbol", sort=True):
        rs = g.resample(
            pd.Timedelta(window_ns, "ns"), on="dt", closed="left", label="left",
            origin="epoch", offset=pd.Timedelta(offset_ns, "ns"),
        )  # fmt: skip
        prices, volume, count, pv = (
            rs["price"].ohlc(),
            rs["size"].sum(),
            rs["price"].count(),
            rs["pv"].sum(),
        )
        for t, row in prices.iterrows():
            if count[t] == 0:  # pandas keeps empty windows as NaN rows; the operator emits none
                continue
            bars.append(
                {
                    "symbol": symbol, "ts": t.value, "open": row["open"], "high": row["high"],
                    "low": row["low"], "close": row["close"], "volume": volume[t], "count": count[t],
                    "vwap": pv[t] / volume[t] if volume[t] else None,
                }
            )  # fmt: skip
    return bars


def assert_same_bars(got: list[dict], expected: list[dict]) -> None:
    got = sorted(got, key=itemgetter("symbol", "ts"))
    assert [(b["symbol"], b["ts"]) for b in got] == [(b["symbol"], b["ts"]) for b in expected]
    for g, e in zip(got, expected):
        assert list(g) == BAR_FIELDS
        assert (g["open"], g["high"], g["low"], g["close"], g["count"]) == (
            e["open"], e["high"], e["low"], e["close"], e["count"],
        )  # fmt: skip
        assert g["volume"] == pytest.approx(e["volume"])
        assert (g["vwap"] is None) == (e["vwap"] is None)
        if e["vwap"] is not None:
            assert g["vwap"] == pytest.approx(e["vwap"], rel=1e-9)


@st.composite
def streams(draw, disorder: bool):
    """A random multi-symbol stream; with ``disorder``, arrival order jitters behind event time."""
    window = draw(st.sampled_from([SECOND, 60 * SECOND, 300 * SECOND]))
    offset = draw(st.one_of(st.just(0), st.integers(1, window - 1)))
    symbols = ["AAA", "BBB", "CCC", "DDD"][: draw(st.integers(1, 4))]
    n = draw(st.integers(0, 80))
    gap = st.one_of(st.just(0), st.integers(0, window // 5), st.integers(0, 3 * window))
    ts = draw(st.integers(1_600_000_000 * SECOND, 1_800_000_000 * SECOND))
    ticks = []
    for _ in range(n):
        ts += draw(gap)
        price = draw(st.integers(1, 20_000)) / 100
        ticks.append(tick(ts, price, draw(st.integers(0, 1_000)), draw(st.sampled_from(symbols))))
    lateness = 0
    if disorder:
        jitter = draw(st.integers(1, 2 * window))
        lateness = draw(st.sampled_from([0, jitter // 2, jitter, 2 * jitter]))
        shifts = [draw(st.integers(0, jitter)) for _ in ticks]
        order = sorted(range(n), key=lambda i: ticks[i]["ts"] + shifts[i])
        ticks = [ticks[i] for i in order]
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=6)) | {0, n})
    batches = [ticks[a:b] for a, b in zip(cuts, cuts[1:])]
    return window, offset, lateness, ticks, batches


def run_and_check(window, offset, lateness, ticks, batches):
    op = make(window_ns=window, offset_ns=offset, allowed_lateness_ns=lateness, interval="x")
    originals = copy.deepcopy(ticks)
    # Reference watermark: a tick is late when it is behind its symbol's max ts - lateness.
    max_ts: dict[str, int] = {}
    accepted = []
    for t in ticks:
        if t["symbol"] in max_ts and t["ts"] < max_ts[t["symbol"]] - lateness:
            continue
        accepted.append(t)
        max_ts[t["symbol"]] = max(max_ts.get(t["symbol"], t["ts"]), t["ts"])
    expected = pandas_bars(accepted, window, offset)

    seen: dict[str, int] = {}
    emitted: list[dict] = []
    for batch in batches:
        emitted += op.process(batch)
        for t in batch:
            seen[t["symbol"]] = max(seen.get(t["symbol"], t["ts"]), t["ts"])
        # Exactly the windows the watermark has passed are out, no more and no fewer.
        closed = [
            (b["symbol"], b["ts"])
            for b in expected
            if b["symbol"] in seen and b["ts"] + window <= seen[b["symbol"]] - lateness
        ]
        assert sorted((b["symbol"], b["ts"]) for b in emitted) == closed
    emitted += op.flush()

    assert_same_bars(emitted, expected)
    for symbol in max_ts:  # each key's bars come out in window order
        starts = [b["ts"] for b in emitted if b["symbol"] == symbol]
        assert starts == sorted(starts)
    assert all((b["ts"] - offset) % window == 0 and b["interval"] == "x" for b in emitted)
    assert op.stats.late == len(ticks) - len(accepted)
    assert sum(b["count"] for b in emitted) + op.stats.late == len(ticks)  # nothing silently lost
    assert (op.stats.events_in, op.stats.events_out) == (len(ticks), len(emitted))
    assert ticks == originals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(disorder=False))
def test_in_order_stream_matches_pandas(case):
    window, offset, lateness, ticks, batches = case
    run_and_check(window, offset, lateness, ticks, batches)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(disorder=True))
def test_out_of_order_stream_matches_pandas_on_accepted_ticks(case):
    run_and_check(*case)


def test_open_and_close_follow_event_time_not_arrival():
    op = make(allowed_lateness_ns=30)
    assert op.process([tick(10, 1.0), tick(5, 2.0), tick(50, 3.0), tick(40, 4.0)]) == []
    assert op.process([tick(80, 9.0)]) == []  # watermark 50 < end 60
    [bar] = op.process([tick(90, 9.0)])  # watermark 60 == end 60
    assert ohlc(bar) == (0, 2.0, 4.0, 1.0, 3.0, 4, 4)
    assert bar["vwap"] == pytest.approx(2.5)
    assert op.stats.late == 0


def test_ties_in_event_time_use_arrival_order():
    op = make(allowed_lateness_ns=60)
    # Arrival: close candidate at 20 first, then the two opens at 10, then another close at 20.
    op.process([tick(20, 5.0), tick(10, 1.0), tick(10, 2.0), tick(20, 4.0), tick(15, 3.0)])
    [bar] = op.flush()
    assert (bar["open"], bar["close"]) == (
        1.0,
        4.0,
    )  # first-arriving at min ts, last-arriving at max ts
    older = make(allowed_lateness_ns=60)  # the same rule for a window that is no longer the newest
    older.process([tick(20, 5.0), tick(30, 6.0), tick(70, 8.0), tick(30, 4.0), tick(12, 1.0), tick(12, 2.0)])
    assert ohlc(older.flush()[0]) == (0, 1.0, 6.0, 1.0, 4.0, 5, 5)
    in_order = make()
    in_order.process([tick(7, 1.0), tick(7, 2.0), tick(9, 3.0), tick(9, 6.0)])
    assert ohlc(in_order.flush()[0]) == (0, 1.0, 6.0, 1.0, 6.0, 4, 4)


def test_late_ticks_are_counted_and_not_aggregated():
    op = make(allowed_lateness_ns=10)
    op.process([tick(30, 1.0), tick(20, 2.0), tick(19, 3.0, size=100), tick(35, 4.0)])
    assert op.stats.late == 1  # 19 < watermark 20; 20 itself is on time
    [bar] = op.flush()
    assert ohlc(bar) == (0, 2.0, 4.0, 1.0, 4.0, 3, 3)
    strict = make()
    strict.process([tick(30, 1.0), tick(29, 2.0, symbol="A"), tick(5, 7.0, symbol="B")])
    assert strict.stats.late == 1  # watermarks are per key: B's first tick is on time
    assert sorted(b["count"] for b in strict.flush()) == [1, 1]


def test_windows_close_exactly_when_the_watermark_reaches_their_end():
    op = make()
    assert op.process([tick(0, 1.0), tick(59, 2.0)]) == []
    [bar] = op.process([tick(60, 3.0)])
    assert bar["ts"] == 0
    lenient = make(allowed_lateness_ns=10)
    assert lenient.process([tick(0, 1.0), tick(60, 2.0), tick(69, 2.0)]) == []
    assert [b["ts"] for b in lenient.process([tick(70, 3.0)])] == [0]


def test_gaps_emit_nothing_by_default_and_flat_bars_with_fill():
    ticks = [tick(10, 1.0, 2), tick(50, 2.0, 2), tick(200, 5.0, 3), tick(230, 6.0), tick(310, 7.0)]
    op = make()
    assert [b["ts"] for b in op.process(ticks) + op.flush()] == [0, 180, 300]
    filled = make(fill="flat")
    bars = filled.process(ticks) + filled.flush()
    assert [ohlc(b) for b in bars] == [
        (0, 1.0, 2.0, 1.0, 2.0, 4, 2),
        (60, 2.0, 2.0, 2.0, 2.0, 0, 0),
        (120, 2.0, 2.0, 2.0, 2.0, 0, 0),
        (180, 5.0, 6.0, 5.0, 6.0, 4, 2),
        (240, 6.0, 6.0, 6.0, 6.0, 0, 0),
        (300, 7.0, 7.0, 7.0, 7.0, 1, 1),
    ]
    assert [b["vwap"] for b in bars if b["count"] == 0] == [None, None, None]
    assert all(list(b) == BAR_FIELDS and b["symbol"] == "A" for b in bars)
    assert filled.stats.events_out == 6


def test_idle_timeout_closes_an_illiquid_key_and_later_ticks_for_it_are_late():
    op = make(allowed_lateness_ns=10, idle_timeout_ns=100)
    op.process([tick(5, 1.0, symbol="ILLQ"), tick(5, 2.0, symbol="LIQ"), tick(65, 2.5, symbol="LIQ")])
    assert op.on_timer(169) == []  # end 60 + lateness 10 + idle 100 = 170
    assert [(b["symbol"], b["ts"]) for b in op.on_timer(170)] == [("ILLQ", 0), ("LIQ", 0)]
    assert op.process([tick(50, 9.0, symbol="ILLQ")]) == []
    assert op.stats.late == 1  # its window is gone: late, not re-opened
    op.process([tick(61, 3.0, symbol="ILLQ")])  # the next window is open as usual
    assert [(b["symbol"], b["ts"], b["count"]) for b in op.flush()] == [
        ("ILLQ", 60, 1),
        ("LIQ", 60, 1),
    ]
    assert make().on_timer(10**18) == []  # without an idle timeout the timer closes nothing


def test_flush_emits_every_open_window_in_key_then_start_order():
    op = make(allowed_lateness_ns=1_000)
    op.process([tick(130, 1.0, symbol="B"), tick(70, 2.0, symbol="A"), tick(10, 3.0, symbol="B")])
    assert op.stats.events_out == 0
    assert [(b["symbol"], b["ts"]) for b in op.flush()] == [("B", 0), ("B", 120), ("A", 60)]
    assert op.flush() == []
    op.process([tick(100, 4.0, symbol="A")])
    assert op.stats.late == 1  # flushed windows stay closed
    assert (op.stats.events_in, op.stats.events_out) == (4, 3)


def test_offset_alignment_and_expression_keys():
    op = make(offset_ns=15, key=lambda r: r["symbol"].lower())
    bars = op.process([tick(14, 1.0, symbol="A"), tick(15, 2.0, symbol="a"), tick(74, 3.0, symbol="A")])
    assert [(b["symbol"], b["ts"]) for b in bars] == [("A", -45)]
    [bar] = op.process([tick(75, 4.0, symbol="a")])
    assert (bar["symbol"], bar["ts"], bar["open"], bar["close"]) == (
        "a",
        15,
        2.0,
        3.0,
    )  # first tick's symbol


def test_zero_volume_vwap_is_none_and_input_is_not_mutated():
    ticks = [tick(1, 1.0, 0), tick(2, 2.0, 0), tick(61, 3.0, 5)]
    originals = copy.deepcopy(ticks)
    op = make()
    bars = op.process(ticks) + op.flush()
    assert [b["vwap"] for b in bars] == [None, 3.0]
    assert ticks == originals
    assert all(math.isfinite(b["close"]) for b in bars)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="window"):
        make(window_ns=0)
    with pytest.raises(ValueError, match="fill"):
        make(fill="forward")
    with pytest.raises(ValueError, match="allowed_lateness"):
        make(allowed_lateness_ns=-1)


def test_late_ticks_go_to_the_side_output_when_asked_and_are_still_counted():
    op = make(allowed_lateness_ns=10, collect_late=True)
    late_a, late_b = tick(19, 3.0, size=100), tick(1, 9.0)
    op.process([tick(30, 1.0), tick(20, 2.0), late_a, tick(35, 4.0)])
    assert op.take_side("late") == [late_a]
    assert op.take_side("late") == []  # handed over once, then forgotten
    op.process([late_b])
    assert op.take_side("late")[0] is late_b  # the record as it came, not a copy
    assert op.stats.late == 2
    assert op.take_side("other") == []
    dropping = make()
    dropping.process([tick(30, 1.0), tick(20, 2.0)])
    assert (dropping.stats.late, dropping.take_side("late")) == (1, [])


def test_get_functions_replace_the_field_reads_and_late_ticks_come_out_as_they_came():
    raw = [
        {"sym": "a", "t": 5, "px": 10.0, "size": 1},
        {"sym": "a", "t": 30, "px": 12.0, "size": 3},
        {"sym": "a", "t": 20, "px": 99.0, "size": 1},  # late: behind 30 with no lateness allowed
        {"sym": "b", "t": 7, "px": 1.0, "size": 2},
    ]
    originals = copy.deepcopy(raw)
    op = make(
        key=itemgetter("sym"), collect_late=True, get_symbol=lambda t: t["sym"].upper(),
        get_price=itemgetter("px"), get_time=itemgetter("t"),
    )  # fmt: skip
    assert op.process(raw) == []
    assert op.take_side("late") == [raw[2]] and op.take_side("late") == []
    bars = op.flush()
    assert [(b["symbol"], ohlc(b)) for b in bars] == [
        ("A", (0, 10.0, 12.0, 10.0, 12.0, 4, 2)),
        ("B", (0, 1.0, 1.0, 1.0, 1.0, 2, 1)),
    ]
    assert op.stats.late == 1 and raw == originals
    only_price = make(get_price=itemgetter("px"))
    only_price.process([{"symbol": "A", "ts": 1, "px": 2.0, "size": 1}])
    assert ohlc(only_price.flush()[0]) == (0, 2.0, 2.0, 2.0, 2.0, 1, 1)


def test_unknown_input_kind_is_rejected():
    with pytest.raises(ValueError, match="input"):
        make(input="quotes")
    with pytest.raises(ValueError, match="read ticks"):
        make(input="bars", get_price=itemgetter("px"))


def test_flat_fill_leaves_a_huge_gap_unfilled_and_says_so(caplog):
    """A tick stamped in seconds among nanoseconds must not make billions of flat bars."""
    from runtime_lib.operators.resample_ohlc import MAX_FLAT_BARS_PER_GAP

    op = make(window_ns=60, fill="flat")
    out = op.process([tick(0, 1.0), tick(60, 2.0), tick(60 * (MAX_FLAT_BARS_PER_GAP + 10), 3.0)])
    out += op.flush()
    assert [b["close"] for b in out] == [1.0, 2.0, 3.0]
    assert "not filling" in caplog.text
    small = make(window_ns=60, fill="flat")
    filled = small.process([tick(0, 1.0), tick(5 * 60, 2.0)]) + small.flush()
    assert [b["volume"] for b in filled] == [1, 0, 0, 0, 0, 1]
