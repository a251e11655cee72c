"""Throttle: token-bucket refill math, drop and delay of the excess, ordering, bounds."""

from __future__ import annotations

from operator import itemgetter

import pytest

from runtime_lib.operators.throttle import Throttle
from runtime_lib.stats import NodeStats

SECOND = 1_000_000_000


class Clock:
    """A processing-time clock the test sets by hand."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make(clock: Clock, **kw) -> Throttle:
    return Throttle("slow", NodeStats("slow", "operator.throttle"), clock=clock, **kw)


def recs(*ns: int, k: str = "a") -> list[dict]:
    return [{"k": k, "n": n} for n in ns]


def numbers(records: list[dict]) -> list[int]:
    return [r["n"] for r in records]


def test_a_full_bucket_lets_a_burst_through_and_drops_the_rest():
    op = make(Clock(), rate=10, burst=5)
    assert numbers(op.process(recs(*range(8)))) == [0, 1, 2, 3, 4]
    assert (op.stats.events_in, op.stats.events_out, op.stats.dropped) == (8, 5, 3)


def test_tokens_refill_at_rate_and_fractions_carry_over():
    clock = Clock()
    op = make(clock, rate=10, burst=5)
    op.process(recs(*range(5)))  # empties the bucket
    clock.now = SECOND // 4  # 2.5 tokens
    assert numbers(op.process(recs(10, 11, 12))) == [10, 11]
    clock.now = SECOND * 35 // 100  # 0.5 left + 1.0 more = 1.5 tokens
    assert numbers(op.process(recs(20, 21))) == [20]
    clock.now = SECOND * 40 // 100  # 0.5 + 0.5 = exactly one token
    assert numbers(op.process(recs(30, 31))) == [30]


def test_a_bucket_holds_at_most_burst_tokens():
    clock = Clock()
    op = make(clock, rate=100, burst=3)
    op.process(recs(0))
    clock.now = 3600 * SECOND
    assert len(op.process(recs(*range(10)))) == 3


def test_a_rate_below_one_per_second():
    clock = Clock()
    op = make(clock, rate=0.5)  # burst defaults to ceil(0.5) = 1
    assert op.burst == 1
    assert numbers(op.process(recs(0, 1))) == [0]
    clock.now = 2 * SECOND - 1
    assert op.process(recs(2)) == []
    clock.now = 2 * SECOND
    assert numbers(op.process(recs(3))) == [3]


def test_a_rate_whose_interval_is_not_whole_nanoseconds_is_exact():
    clock = Clock()
    op = make(clock, rate=3, burst=3)
    op.process(recs(0, 1, 2))
    clock.now = SECOND - 1  # just under 3 tokens
    assert len(op.process(recs(*range(5)))) == 2
    clock.now = SECOND  # now the third
    assert len(op.process(recs(*range(5)))) == 1


def test_default_burst_is_the_rate_rounded_up():
    assert make(Clock(), rate=2.5).burst == 3
    assert make(Clock(), rate=4).burst == 4


def test_keyed_buckets_are_independent():
    op = make(Clock(), rate=1, burst=1, key=itemgetter("k"))
    out = op.process(recs(0, 1, k="a") + recs(2, 3, k="b"))
    assert numbers(out) == [0, 2]
    assert op.stats.dropped == 2


def test_the_clock_going_backwards_adds_no_tokens():
    clock = Clock(10 * SECOND)
    op = make(clock, rate=1, burst=1)
    op.process(recs(0))
    clock.now = 0
    assert op.process(recs(1)) == []
    clock.now = 11 * SECOND - 1
    assert op.process(recs(2)) == []
    clock.now = 11 * SECOND
    assert numbers(op.process(recs(3))) == [3]


def test_delay_holds_the_excess_in_order_and_timers_release_it_as_tokens_refill():
    clock = Clock()
    op = make(clock, rate=2, burst=2, on_excess="delay")
    assert numbers(op.process(recs(*range(6)))) == [0, 1]
    assert op.pending == 4 and op.stats.dropped == 0
    clock.now = SECOND // 2
    assert numbers(op.on_timer(123)) == [2]  # the argument is only a prompt; the clock decides
    assert op.on_timer(10**19) == []
    clock.now = SECOND
    # Held records go first; a new record queues behind them even if a token were free.
    assert numbers(op.process(recs(6))) == [3]
    assert op.pending == 3
    assert numbers(op.flush()) == [4, 5, 6]
    assert op.pending == 0
    assert (op.stats.events_in, op.stats.events_out, op.stats.dropped) == (7, 7, 0)


def test_delay_keeps_keys_apart_and_releases_in_arrival_order():
    clock = Clock()
    op = make(clock, rate=1, burst=1, key=itemgetter("k"), on_excess="delay")
    batch = [{"k": k, "n": n} for n, k in enumerate("aabbab")]
    assert numbers(op.process(batch)) == [0, 2]  # one token each for a and b
    clock.now = SECOND
    assert numbers(op.on_timer(0)) == [1, 3]  # next of each key, in arrival order
    clock.now = 2 * SECOND
    assert numbers(op.on_timer(0)) == [4, 5]
    assert op.pending == 0


def test_max_pending_drops_the_oldest_held_and_counts_them():
    clock = Clock()
    op = make(clock, rate=1, burst=1, on_excess="delay", max_pending=3)
    assert numbers(op.process(recs(*range(6)))) == [0]
    assert op.pending == 3 and op.stats.dropped == 2  # 1 and 2 were the oldest held
    assert numbers(op.flush()) == [3, 4, 5]


def test_max_pending_is_global_across_keys():
    op = make(Clock(), rate=1, burst=1, key=itemgetter("k"), on_excess="delay", max_pending=2)
    batch = [{"k": k, "n": n} for n, k in enumerate("aabbab")]  # 0 and 2 pass; 1, 3, 4, 5 held
    op.process(batch)
    assert op.stats.dropped == 2
    assert numbers(op.flush()) == [4, 5]


def test_the_oldest_held_are_found_after_many_releases_across_keys():
    clock = Clock()
    op = make(clock, rate=1000, burst=1, key=itemgetter("k"), on_excess="delay", max_pending=6000)
    assert numbers(op.process(recs(*range(3000), k="x") + recs(*range(10_000, 13_000), k="y"))) == [0, 10_000]
    for step in range(1, 2501):  # each key gets a token per millisecond
        clock.now = step * SECOND // 1000
        assert numbers(op.on_timer(0)) == [step, 10_000 + step]
    assert op.pending == 998
    # 6,000 more held: 998 over the bound, exactly the records held from before.
    op.process(recs(*range(20_000, 26_000), k="x"))
    assert op.stats.dropped == 998
    assert numbers(op.flush()) == list(range(20_000, 26_000))


def test_full_buckets_are_forgotten_so_keyed_state_stays_bounded():
    clock = Clock()
    op = make(clock, rate=10, burst=10, key=itemgetter("k"))
    for block in range(20):
        clock.now = block * SECOND  # a bucket refills in one second
        op.process([{"k": (block, i), "n": i} for i in range(5_000)])
        assert op.bucket_count <= 10_000
    assert op.stats.dropped == 0


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"rate": 0}, "rate must be a positive number"),
        ({"rate": float("inf")}, "rate must be a positive number"),
        ({"rate": 1, "burst": 0}, "burst must be at least 1"),
        ({"rate": 1, "on_excess": "queue"}, "unknown on_excess 'queue'"),
        ({"rate": 1, "max_pending": 0}, "max_pending must be at least 1"),
    ],
)
def test_bad_arguments_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        make(Clock(), **kw)
