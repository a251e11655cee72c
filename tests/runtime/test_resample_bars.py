"""ResampleOHLC with bars as input: finer bars into coarser bars equal bars straight from the ticks."""

from __future__ import annotations

import copy
from operator import itemgetter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.operators.resample_ohlc import ResampleOHLC
from runtime_lib.stats import NodeStats
from runtime_lib.timeutil import format_duration

SECOND = 1_000_000_000
MINUTE = 60 * SECOND


def make(window_ns: int, **kw) -> ResampleOHLC:
    kw = {"interval": format_duration(window_ns), "key": itemgetter("symbol"), **kw}
    return ResampleOHLC("bars", NodeStats("bars", "operator.resample_ohlc"), window_ns=window_ns, **kw)


def bar(
    ts: int, o: float, h: float, lo: float, c: float, volume: int, count: int, vwap, interval="1m", symbol="A"
) -> dict:
    return {
        "symbol": symbol,
        "ts": ts,
        "interval": interval,
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": volume,
        "count": count,
        "vwap": vwap,
    }


def run(op: ResampleOHLC, batches: list[list[dict]]) -> list[dict]:
    out = []
    for batch in batches:
        out += op.process(batch)
    return out + op.flush()


def chained(fine: ResampleOHLC, coarse: ResampleOHLC, batches: list[list[dict]]) -> list[dict]:
    """Ticks through ``fine`` into ``coarse``, flushed in that order as a job flushes them."""
    out = []
    for batch in batches:
        released = fine.process(batch)
        if released:
            out += coarse.process(released)
    released = fine.flush()
    if released:
        out += coarse.process(released)
    return out + coarse.flush()


def assert_same(got: list[dict], expected: list[dict]) -> None:
    """Same bars, each key's in the same order: exact prices, volumes and counts, vwap to rounding.

    Keys interleave differently: a key's fine bar may close (and reach the coarse node) before
    another key's first one does.
    """
    by_key = itemgetter("symbol")
    got, expected = sorted(got, key=by_key), sorted(expected, key=by_key)  # stable: keeps each key's order
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert list(g) == list(e)
        assert {k: v for k, v in g.items() if k != "vwap"} == {k: v for k, v in e.items() if k != "vwap"}
        assert (g["vwap"] is None) == (e["vwap"] is None)
        if e["vwap"] is not None:
            assert g["vwap"] == pytest.approx(e["vwap"], rel=1e-9)


@st.composite
def tick_streams(draw):
    """Several symbols, gaps from none to many minutes, some disorder within the allowed lateness."""
    symbols = ["AAA", "BBB", "CCC"][: draw(st.integers(1, 3))]
    ts = draw(st.integers(1_600_000_000, 1_700_000_000)) * SECOND
    gap = st.one_of(st.just(0), st.integers(0, 20 * SECOND), st.integers(0, 12 * MINUTE))
    ticks = []
    for _ in range(draw(st.integers(0, 120))):
        ts += draw(gap)
        ticks.append(
            {
                "symbol": draw(st.sampled_from(symbols)),
                "ts": ts,
                "price": draw(st.integers(1, 10_000)) / 100,
                "size": draw(st.integers(0, 500)),
            }
        )
    lateness = draw(st.sampled_from([0, 30 * SECOND, 2 * MINUTE]))
    jitter = draw(st.sampled_from([0, 40 * SECOND, 3 * MINUTE]))
    shifts = [draw(st.integers(0, jitter)) for _ in ticks]
    ticks = [ticks[i] for i in sorted(range(len(ticks)), key=lambda i: ticks[i]["ts"] + shifts[i])]
    cuts = sorted(draw(st.sets(st.integers(0, len(ticks)), max_size=5)) | {0, len(ticks)})
    return ticks, [ticks[a:b] for a, b in zip(cuts, cuts[1:])], lateness


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tick_streams(),
    st.sampled_from(
        [(MINUTE, 5 * MINUTE), (MINUTE, MINUTE), (5 * SECOND, MINUTE), (5 * MINUTE, 15 * MINUTE)]
    ),
    st.integers(0, 4),
    st.sampled_from(["none", "flat"]),
    st.sampled_from(["none", "flat"]),
)
def test_fine_bars_into_coarse_bars_equal_coarse_bars_from_the_ticks(case, widths, shift, fine_fill, fill):
    ticks, batches, lateness = case
    fine_ns, coarse_ns = widths
    fine_offset = shift * SECOND % fine_ns
    coarse_offset = fine_offset + shift * fine_ns  # the grids agree on the fine bars' edges
    originals = copy.deepcopy(ticks)
    fine = make(fine_ns, offset_ns=fine_offset, allowed_lateness_ns=lateness, fill=fine_fill)
    coarse = make(coarse_ns, offset_ns=coarse_offset, fill=fill, input="bars")
    direct = make(coarse_ns, offset_ns=coarse_offset, allowed_lateness_ns=lateness, fill=fill)

    got = chained(fine, coarse, batches)
    expected = run(direct, batches)

    assert_same(got, expected)
    assert fine.stats.late == direct.stats.late  # the same ticks are late at either width
    assert coarse.stats.late == 0  # a key's bars come out in window order
    assert ticks == originals


def test_bar_fields_aggregate_by_event_time_in_any_arrival_order():
    op = make(5 * MINUTE, input="bars", allowed_lateness_ns=10 * MINUTE)
    bars = [
        bar(2 * MINUTE, 11.0, 14.0, 10.5, 13.0, 30, 3, 12.0),
        bar(0, 10.0, 12.0, 9.0, 11.0, 10, 2, 10.5),
        bar(4 * MINUTE, 13.0, 13.5, 8.0, 12.5, 60, 4, 11.0),
        bar(MINUTE, 11.0, 11.0, 11.0, 11.0, 0, 1, None),  # a trade of size 0
    ]
    [out] = run(op, [bars])
    assert out == {
        "symbol": "A", "ts": 0, "interval": "5m", "open": 10.0, "high": 14.0, "low": 8.0, "close": 12.5,
        "volume": 100, "count": 10, "vwap": pytest.approx((12.0 * 30 + 10.5 * 10 + 11.0 * 60) / 100),
    }  # fmt: skip


def test_ties_between_bars_go_by_arrival_and_empty_bars_are_skipped():
    op = make(5 * MINUTE, input="bars", allowed_lateness_ns=10 * MINUTE)
    first = bar(MINUTE, 1.0, 1.0, 1.0, 1.0, 1, 1, 1.0)
    second = bar(MINUTE, 2.0, 2.0, 2.0, 2.0, 1, 1, 2.0)
    flat = bar(0, 7.0, 7.0, 7.0, 7.0, 0, 0, None)  # what fill: flat emits for an empty minute
    [out] = run(op, [[flat, first, second]])
    assert (out["open"], out["close"], out["high"], out["low"], out["count"]) == (1.0, 2.0, 2.0, 1.0, 2)
    only_flat = make(5 * MINUTE, input="bars")
    assert run(only_flat, [[flat]]) == []
    assert only_flat.stats.events_in == 1


def test_zero_volume_gives_no_vwap():
    op = make(5 * MINUTE, input="bars")
    [out] = run(op, [[bar(0, 1.0, 1.0, 1.0, 1.0, 0, 2, None), bar(MINUTE, 2.0, 2.0, 2.0, 2.0, 0, 1, None)]])
    assert (out["volume"], out["count"], out["vwap"]) == (0, 3, None)


def test_late_bars_are_counted_and_handed_to_the_side_output():
    op = make(5 * MINUTE, input="bars", collect_late=True)
    late = bar(MINUTE, 5.0, 5.0, 5.0, 5.0, 1, 1, 5.0)
    out = op.process([bar(2 * MINUTE, 1.0, 1.0, 1.0, 1.0, 1, 1, 1.0), late])
    assert out == [] and op.stats.late == 1 and op.take_side("late") == [late]
    assert [b["count"] for b in op.flush()] == [1]


def test_a_window_that_is_no_multiple_of_the_bars_interval_is_refused():
    op = make(7 * MINUTE, input="bars")
    with pytest.raises(ValueError, match="whole multiple"):
        op.process([bar(0, 1.0, 1.0, 1.0, 1.0, 1, 1, 1.0, interval="5m")])


def test_a_bar_that_straddles_two_windows_is_refused():
    op = make(5 * MINUTE, input="bars", offset_ns=30 * SECOND)
    op.process([bar(MINUTE + 30 * SECOND, 1.0, 1.0, 1.0, 1.0, 1, 1, 1.0, interval="30s")])  # fits
    with pytest.raises(ValueError, match="straddles"):
        op.process([bar(5 * MINUTE, 1.0, 1.0, 1.0, 1.0, 1, 1, 1.0)])  # [5m, 6m) crosses 5m30s
