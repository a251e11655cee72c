"""Deduplicate: hand-worked cases for each rule, a plain reference implementation, bounded state."""

from __future__ import annotations

from operator import itemgetter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_lib.operators.deduplicate import Deduplicate
from runtime_lib.stats import NodeStats


def make(ttl_ns: int = 10, key=itemgetter("k")) -> Deduplicate:
    return Deduplicate("dedupe", NodeStats("dedupe", "operator.deduplicate"), key=key, ttl_ns=ttl_ns)


def rec(k, ts: int, n: int = 0) -> dict:
    return {"k": k, "ts": ts, "n": n}


def times(records: list[dict]) -> list[int]:
    return [r["ts"] for r in records]


def test_a_repeat_within_ttl_is_dropped_and_counted():
    op = make(ttl_ns=10)
    out = op.process([rec("a", 0), rec("a", 9), rec("a", 10)])
    assert times(out) == [0, 10]  # 9 - 0 < 10 is a repeat; 10 - 0 is not
    assert (op.stats.events_in, op.stats.events_out, op.stats.dropped) == (3, 2, 1)


def test_only_emitted_records_are_references():
    # 6 is dropped, so it does not extend the suppression: 12 is compared with 0 and emitted.
    op = make(ttl_ns=10)
    assert times(op.process([rec("a", 0), rec("a", 6), rec("a", 12), rec("a", 21), rec("a", 22)])) == [
        0,
        12,
        22,
    ]


def test_keys_are_independent_and_tuple_keys_work():
    op = make(ttl_ns=10, key=lambda r: (r["k"], r["n"]))
    out = op.process([rec("a", 0, 1), rec("a", 1, 2), rec("b", 2, 1), rec("a", 3, 1), rec("b", 4, 2)])
    assert [(r["k"], r["n"]) for r in out] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


def test_batches_are_independent_of_where_they_are_cut():
    op = make(ttl_ns=10)
    assert times(op.process([rec("a", 0)])) == [0]
    assert times(op.process([rec("a", 5)])) == []
    assert times(op.process([rec("a", 11)])) == [11]


def test_out_of_order_record_within_ttl_before_the_reference_is_a_repeat():
    op = make(ttl_ns=10)
    assert times(op.process([rec("a", 100), rec("a", 95), rec("a", 91)])) == [100]


def test_out_of_order_record_ttl_before_the_reference_is_emitted_and_the_newer_reference_stays():
    op = make(ttl_ns=10)
    # 85 is 15 before the reference 100: emitted. The reference stays 100, so 105 is a repeat.
    assert times(op.process([rec("a", 100), rec("a", 85), rec("a", 105), rec("a", 110)])) == [100, 85, 110]


def test_a_reference_expires_ttl_behind_the_newest_event_time():
    # 'a' was emitted at 100; 'b' at 200 moves the horizon, so 'a''s reference (100 <= 200 - 10)
    # has expired and a late repeat of 'a' at 100 is emitted: repeats more than ttl late are not caught.
    op = make(ttl_ns=10)
    assert times(op.process([rec("a", 100), rec("b", 200), rec("a", 100)])) == [100, 200, 100]


def test_equal_timestamps_are_repeats():
    op = make(ttl_ns=1)
    assert times(op.process([rec("a", 5), rec("a", 5), rec("a", 6)])) == [5, 6]


@pytest.mark.parametrize("batch_size", [1, 7, 500])
def test_state_stays_bounded_on_an_endless_stream_of_new_keys(batch_size):
    ttl, step = 10_000, 1_000
    op = make(ttl_ns=ttl)
    largest, total = 0, 200_000 - 200_000 % batch_size
    for start in range(0, total, batch_size):
        batch = [rec(i, i * step) for i in range(start, start + batch_size)]
        assert len(op.process(batch)) == batch_size
        largest = max(largest, op.state_size)
    # At most the keys emitted within the last 2 * ttl of event time (plus the batch in hand).
    assert largest <= 2 * ttl // step + batch_size
    assert op.stats.events_out == total


def test_late_records_do_not_grow_the_state():
    op = make(ttl_ns=10)
    op.process([rec("now", 1_000_000)])
    op.process([rec(i, i) for i in range(10_000)])  # all far behind the horizon: nothing to keep
    assert op.state_size <= 1


def test_ttl_must_be_positive():
    with pytest.raises(ValueError, match="ttl must be positive"):
        make(ttl_ns=0)


def reference(records: list[dict], ttl: int) -> list[dict]:
    """Dedupe by the definition: compare with the newest emitted ts of the key, if still live."""
    emitted: list[dict] = []
    for i, r in enumerate(records):
        horizon = max(x["ts"] for x in records[: i + 1])
        same_key = [e["ts"] for e in emitted if e["k"] == r["k"]]
        ref = max(same_key) if same_key else None
        live = ref is not None and ref > horizon - ttl
        if not (live and abs(r["ts"] - ref) < ttl):
            emitted.append(r)
    return emitted


streams = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 60)), max_size=60).map(
    lambda pairs: [rec(k, ts, n) for n, (k, ts) in enumerate(pairs)]
)


@settings(max_examples=300, deadline=None)
@given(records=streams, ttl=st.integers(1, 25), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_matches_the_reference_however_the_stream_is_batched(records, ttl, cuts):
    op = make(ttl_ns=ttl)
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    out = [r for a, b in zip(bounds, bounds[1:]) for r in op.process(records[a:b])]
    expected = reference(records, ttl)
    assert [r["n"] for r in out] == [r["n"] for r in expected]
    assert op.stats.dropped == len(records) - len(expected)
    assert op.flush() == []
