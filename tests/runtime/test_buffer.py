"""Buffer: batching by count, by processing time, the final flush, and what one call releases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime_lib.operators.buffer import Buffer
from runtime_lib.stats import NodeStats


class Clock:
    """A processing-time clock the test sets by hand."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make(clock: Clock, max_items: int = 3, max_wait_ns: int = 100) -> Buffer:
    return Buffer(
        "batches",
        NodeStats("batches", "operator.buffer"),
        max_items=max_items,
        max_wait_ns=max_wait_ns,
        clock=clock,
    )


def recs(*ns: int) -> list[dict]:
    return [{"n": n} for n in ns]


def numbers(records: list[dict]) -> list[int]:
    return [r["n"] for r in records]


def test_records_are_held_until_max_items_accumulate():
    op = make(Clock(), max_items=3)
    assert op.process(recs(0, 1)) == []
    assert op.pending == 2
    assert numbers(op.process(recs(2, 3))) == [0, 1, 2]
    assert op.pending == 1


def test_one_large_batch_releases_several_full_batches_and_keeps_the_rest():
    op = make(Clock(), max_items=3)
    assert numbers(op.process(recs(*range(10)))) == list(range(9))
    assert op.pending == 1


def test_records_pass_unchanged():
    op = make(Clock(), max_items=2)
    batch = recs(0, 1)
    out = op.process(batch)
    assert all(a is b for a, b in zip(out, batch))


def test_the_timer_releases_a_partial_batch_once_the_oldest_waited_max_wait():
    clock = Clock(1_000)
    op = make(clock, max_items=3, max_wait_ns=100)
    op.process(recs(0))
    clock.now = 1_050
    op.process(recs(1))  # the oldest still arrived at 1,000
    clock.now = 1_099
    assert op.on_timer(0) == []
    clock.now = 1_100
    assert numbers(op.on_timer(0)) == [0, 1]
    assert op.on_timer(0) == [] and op.pending == 0


def test_the_wait_restarts_with_the_first_record_after_a_release():
    clock = Clock()
    op = make(clock, max_items=2, max_wait_ns=100)
    op.process(recs(0, 1, 2))  # releases [0, 1]; 2 arrived at 0
    clock.now = 80
    op.process(recs(3, 4))  # releases [2, 3]; 4 arrived at 80
    clock.now = 150
    assert op.on_timer(0) == []
    clock.now = 180
    assert numbers(op.on_timer(0)) == [4]


def test_an_overdue_partial_batch_leaves_with_the_next_records_to_arrive():
    clock = Clock()
    op = make(clock, max_items=5, max_wait_ns=100)
    op.process(recs(0, 1))
    clock.now = 200  # no timer ran in between
    assert numbers(op.process(recs(2))) == [0, 1, 2]
    assert op.pending == 0


def test_full_batches_then_one_overdue_partial_batch():
    clock = Clock()
    op = make(clock, max_items=3, max_wait_ns=0)  # 0s: never hold, only cut into batches
    assert numbers(op.process(recs(*range(7)))) == list(range(7))
    assert op.pending == 0


def test_flush_releases_the_final_partial_batch():
    op = make(Clock(), max_items=4)
    op.process(recs(0, 1, 2, 3, 4, 5))
    assert numbers(op.flush()) == [4, 5]
    assert op.flush() == []


def test_counters():
    clock = Clock()
    op = make(clock, max_items=2, max_wait_ns=10)
    op.process(recs(0, 1, 2))
    clock.now = 10
    op.on_timer(0)
    op.process(recs(3))
    op.flush()
    assert (op.stats.events_in, op.stats.events_out, op.stats.dropped) == (4, 4, 0)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"max_items": 0}, "max_items must be at least 1"),
        ({"max_wait_ns": -1}, "max_wait must not be negative"),
    ],
)
def test_bad_arguments_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        make(Clock(), **kw)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("batch"), st.integers(0, 12)),
        st.tuples(st.just("wait"), st.integers(0, 150)),
        st.tuples(st.just("timer"), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(max_items=st.integers(1, 5), max_wait=st.integers(0, 120), script=steps)
def test_every_record_leaves_once_in_order_in_batches_of_at_most_max_items(max_items, max_wait, script):
    clock = Clock()
    op = make(clock, max_items=max_items, max_wait_ns=max_wait)
    sent, received, arrived = 0, [], {}
    for action, value in script:
        if action == "wait":
            clock.now += value
            continue
        if action == "batch":
            for n in range(sent, sent + value):
                arrived[n] = clock.now
            out = op.process(recs(*range(sent, sent + value)))
            sent += value
        else:
            out = op.on_timer(0)
            assert len(out) < max_items or not out
        # What one call releases is whole batches and at most one partial batch, last.
        runs = [out[i : i + max_items] for i in range(0, len(out), max_items)]
        assert all(len(run) == max_items for run in runs[:-1])
        received += numbers(out)
        assert op.pending < max_items
        held_since = [arrived[n] for n in range(len(received), sent)]
        assert not held_since or clock.now - min(held_since) < max_wait
    final = op.flush()
    assert len(final) < max_items
    assert received + numbers(final) == list(range(sent))
