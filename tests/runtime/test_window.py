"""Window: pandas groupby + resample as the oracle for random streams, plus hand-worked cases."""

from __future__ import annotations

import copy
import math
from operator import itemgetter

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.operators.window import Window
from runtime_lib.stats import NodeStats

SECOND = 1_000_000_000
V = itemgetter("v")
ALL_AGGS = [
    ("n", "count", ()), ("n_v", "count", (V,)), ("total", "sum", (V,)), ("lo", "min", (V,)),
    ("hi", "max", (V,)), ("avg", "mean", (V,)), ("first_v", "first", (V,)), ("last_v", "last", (V,)),
    ("vw", "vwap", (V, itemgetter("size"))),
]  # fmt: skip


def make(aggs=ALL_AGGS, **kw) -> Window:
    kw = {"window_ns": 60, "key": itemgetter("k"), "key_fields": ("k",), "aggs": aggs, **kw}
    return Window("w", NodeStats("w", "operator.window"), **kw)


def rec(ts: int, v, size: int = 1, k: str = "A") -> dict:
    return {"k": k, "ts": ts, "v": v, "size": size}


def nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def pandas_windows(records: list[dict], window_ns: int, offset_ns: int) -> list[dict]:
    """The oracle: per key, pandas resample (closed='left', label='left', epoch origin)."""
    if not records:
        return []
    df = pd.DataFrame(records).sort_values("ts", kind="stable")  # ties keep arrival order
    df["v"] = df["v"].astype("float64")
    df["dt"] = pd.to_datetime(df["ts"], unit="ns", utc=True)
    df["pv"] = df["v"] * df["size"]
    df["vsize"] = df["size"].where(df["v"].notna(), 0)
    expected = []
    for k, g in df.groupby("k", sort=True):
        rs = g.resample(
            pd.Timedelta(window_ns, "ns"),
            on="dt",
            closed="left",
            label="left",
            origin="epoch",
            offset=pd.Timedelta(offset_ns, "ns"),
        )
        size, v = rs.size(), rs["v"]
        cols = {
            "n_v": v.count(),
            "total": v.sum(),
            "lo": v.min(),
            "hi": v.max(),
            "avg": v.mean(),
            "first_v": v.first(),
            "last_v": v.last(),
            "pv": rs["pv"].sum(),
            "vsize": rs["vsize"].sum(),
        }
        for t in size.index:
            if size[t] == 0:  # pandas keeps empty windows; the operator emits none
                continue
            row = {
                name: nan_to_none(col[t].item() if hasattr(col[t], "item") else col[t])
                for name, col in cols.items()
            }
            pv, vsize = row.pop("pv"), row.pop("vsize")
            expected.append(
                {
                    "k": k,
                    "ts": t.value,
                    "window_end": t.value + window_ns,
                    "n": int(size[t]),
                    **row,
                    "vw": pv / vsize if vsize else None,
                }
            )
    return expected


def assert_same(got: list[dict], expected: list[dict]) -> None:
    got = sorted(got, key=itemgetter("k", "ts"))
    assert [(r["k"], r["ts"]) for r in got] == [(r["k"], r["ts"]) for r in expected]
    for g, e in zip(got, expected):
        assert list(g) == ["k", "ts", "window_end"] + [name for name, _, _ in ALL_AGGS]
        for name in e:
            if isinstance(e[name], float):
                assert g[name] == pytest.approx(e[name], rel=1e-9), name
            else:
                assert g[name] == e[name], name


@st.composite
def streams(draw, disorder: bool):
    window = draw(st.sampled_from([SECOND, 60 * SECOND]))
    offset = draw(st.one_of(st.just(0), st.integers(1, window - 1)))
    keys = ["x", "y", "z"][: draw(st.integers(1, 3))]
    n = draw(st.integers(0, 80))
    gap = st.one_of(st.just(0), st.integers(0, window // 4), st.integers(0, 3 * window))
    value = st.one_of(st.none(), st.integers(-500, 500).map(lambda i: i / 4))
    ts = draw(st.integers(1_600_000_000 * SECOND, 1_800_000_000 * SECOND))
    records = []
    for _ in range(n):
        ts += draw(gap)
        records.append(rec(ts, draw(value), draw(st.integers(0, 100)), draw(st.sampled_from(keys))))
    lateness = 0
    if disorder:
        jitter = draw(st.integers(1, 2 * window))
        lateness = draw(st.sampled_from([0, jitter // 2, jitter]))
        shifts = [draw(st.integers(0, jitter)) for _ in records]
        records = [records[i] for i in sorted(range(n), key=lambda i: records[i]["ts"] + shifts[i])]
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=5)) | {0, n})
    return window, offset, lateness, records, [records[a:b] for a, b in zip(cuts, cuts[1:])]


def check_against_pandas(window, offset, lateness, records, batches):
    op = make(window_ns=window, offset_ns=offset, allowed_lateness_ns=lateness, collect_late=True)
    originals = copy.deepcopy(records)
    max_ts: dict[str, int] = {}
    accepted, late = [], []
    for r in records:  # the reference watermark: per key, max ts - lateness
        if r["k"] in max_ts and r["ts"] < max_ts[r["k"]] - lateness:
            late.append(r)
            continue
        accepted.append(r)
        max_ts[r["k"]] = max(max_ts.get(r["k"], r["ts"]), r["ts"])
    emitted, side = [], []
    for batch in batches:
        emitted += op.process(batch)
        side += op.take_side("late")
    emitted += op.flush()
    assert_same(emitted, pandas_windows(accepted, window, offset))
    assert side == late and op.stats.late == len(late)
    assert sum(r["n"] for r in emitted) + op.stats.late == len(records)  # nothing silently lost
    for k in max_ts:  # each key's windows come out in start order
        starts = [r["ts"] for r in emitted if r["k"] == k]
        assert starts == sorted(starts)
    assert records == originals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(disorder=False))
def test_in_order_stream_matches_pandas(case):
    check_against_pandas(*case)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(disorder=True))
def test_out_of_order_stream_matches_pandas_on_accepted_records(case):
    check_against_pandas(*case)


FIRST_LAST = [("first_v", "first", (V,)), ("last_v", "last", (V,)), ("n", "count", ())]


def test_first_and_last_follow_event_time_and_ties_go_by_arrival():
    op = make(FIRST_LAST, allowed_lateness_ns=60)
    # Arrival: 20 first, then two records at 10, then another at 20, then 15.
    op.process([rec(20, "a"), rec(10, "b"), rec(10, "c"), rec(20, "d"), rec(15, "e")])
    [out] = op.flush()
    assert (out["first_v"], out["last_v"], out["n"]) == ("b", "d", 5)
    in_order = make(FIRST_LAST)
    in_order.process([rec(7, "a"), rec(7, "b"), rec(9, "c"), rec(9, "d")])
    assert [(r["first_v"], r["last_v"]) for r in in_order.flush()] == [("a", "d")]


def test_late_records_are_counted_not_aggregated_and_watermarks_are_per_key():
    op = make(FIRST_LAST, allowed_lateness_ns=10)
    op.process([rec(30, "a"), rec(20, "b"), rec(19, "late"), rec(35, "c"), rec(5, "other", k="B")])
    assert op.stats.late == 1  # 19 < watermark 20; 20 is on time; B has its own watermark
    assert [(r["k"], r["first_v"], r["last_v"], r["n"]) for r in op.flush()] == [
        ("A", "b", "c", 3),
        ("B", "other", "other", 1),
    ]


def test_windows_close_when_the_watermark_reaches_their_end_and_flush_keeps_them_closed():
    op = make(FIRST_LAST, allowed_lateness_ns=10)
    assert op.process([rec(0, "a"), rec(60, "b"), rec(69, "c")]) == []
    [out] = op.process([rec(70, "d")])
    assert (out["ts"], out["window_end"], out["n"]) == (0, 60, 1)
    assert [r["ts"] for r in op.flush()] == [60]
    op.process([rec(100, "e")])
    assert op.stats.late == 1 and op.flush() == []


def test_none_values_are_skipped():
    op = make()
    op.process([rec(1, None, 5), rec(2, None, 5)])
    [out] = op.flush()
    assert {name: out[name] for name, _, _ in ALL_AGGS} == {
        "n": 2, "n_v": 0, "total": 0, "lo": None, "hi": None, "avg": None,
        "first_v": None, "last_v": None, "vw": None,
    }  # fmt: skip


def test_tuple_keys_fill_one_field_each_and_other_keys_a_key_field():
    pairs = make(FIRST_LAST, key=itemgetter("k", "size"), key_fields=("k", "size"))
    pairs.process([rec(1, "a", 1), rec(2, "b", 2), rec(3, "c", 1)])
    assert [(r["k"], r["size"], r["n"]) for r in pairs.flush()] == [("A", 1, 2), ("A", 2, 1)]
    expr = make(FIRST_LAST, key=lambda r: r["size"] > 1, key_fields=("key",))
    expr.process([rec(1, "a", 1), rec(2, "b", 2)])
    assert [list(r)[:3] + [r["key"]] for r in expr.flush()] == [
        ["key", "ts", "window_end", False],
        ["key", "ts", "window_end", True],
    ]


def test_idle_timeout_closes_an_idle_key_and_late_records_can_go_to_the_side_output():
    op = make(FIRST_LAST, idle_timeout_ns=100, collect_late=True)
    out = op.process([rec(5, "a", k="IDLE"), rec(5, "b", k="BUSY"), rec(65, "c", k="BUSY")])
    assert [(r["k"], r["ts"]) for r in out] == [("BUSY", 0)]  # BUSY's watermark passed 60
    assert op.on_timer(159) == []  # end 60 + idle 100
    assert [(r["k"], r["ts"]) for r in op.on_timer(160)] == [("IDLE", 0)]
    late = rec(50, "late", k="IDLE")
    assert op.process([late]) == [] and op.stats.late == 1
    assert op.take_side("late") == [late] and op.take_side("late") == []


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="window"):
        make(window_ns=0)
    with pytest.raises(ValueError, match="unknown aggregation 'avg'"):
        make([("x", "avg", (V,))])
    with pytest.raises(ValueError, match="arguments"):
        make([("x", "vwap", (V,))])
    with pytest.raises(ValueError, match="key_fields"):
        make(key_fields=())
