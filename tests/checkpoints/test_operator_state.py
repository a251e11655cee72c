"""Every stateful operator, cut anywhere by a snapshot and a restore into a fresh operator, gives what
an uninterrupted run gives: the same records from every call, the same counters."""

from __future__ import annotations

import json
import marshal
from operator import itemgetter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.operators.base import Operator, StateMismatch, StateNotSaved
from runtime_lib.operators.buffer import Buffer
from runtime_lib.operators.deduplicate import Deduplicate
from runtime_lib.operators.function_ops import AsyncGeneratorOperator
from runtime_lib.operators.resample_ohlc import ResampleOHLC
from runtime_lib.operators.throttle import Throttle
from runtime_lib.operators.window import Window
from runtime_lib.stats import NodeStats
from tests.checkpoints import Clock, assert_same_as_uninterrupted, round_trip

SECOND = 1_000_000_000
W = 60 * SECOND  # the window of the event-time operators
T0 = 1_710_509_400 * SECOND - 1_710_509_400 * SECOND % (5 * W)  # 2024-03-15, aligned to 5 minutes
CHECKS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW_CHECKS = settings(CHECKS, max_examples=50)  # each example cuts its run after every step
PRICES = st.floats(0.5, 2000.0, allow_nan=False, allow_infinity=False)


# -- inputs ------------------------------------------------------------------------------------


@st.composite
def disordered_ticks(draw) -> list[dict]:
    """Ticks of three symbols in a disordered stream: repeated timestamps, gaps (some beyond a
    ``max_jump``), records late within and beyond a few windows, a symbol lagging the others,
    and a few records that are no ticks."""
    ticks, ts = [], T0
    for _ in range(draw(st.integers(0, 70))):
        ts += draw(st.sampled_from([0, 0, 1, 7 * SECOND, W // 3, W, 4 * W, 40 * W]))
        symbol = draw(st.sampled_from("AABBC"))
        back = draw(st.sampled_from([0, 0, 0, 1, W // 2, W + 1, 3 * W, 12 * W]))
        lag = 2 * W if symbol == "C" else 0
        tick = {
            "symbol": symbol,
            "ts": ts - back - lag,
            "price": draw(PRICES),
            "size": draw(st.integers(1, 9)),
        }
        if draw(st.integers(0, 30)) == 0:
            tick[draw(st.sampled_from(["ts", "price"]))] = "oops"
        ticks.append(tick)
    return ticks


@st.composite
def disordered_bars(draw) -> list[dict]:
    """One-minute bars of two symbols, disordered as :func:`disordered_ticks`, some empty (flat fill)."""
    bars, start = [], T0
    for _ in range(draw(st.integers(0, 50))):
        start += draw(st.sampled_from([0, W, W, 2 * W, 7 * W, 60 * W]))
        symbol = draw(st.sampled_from("AAB"))
        ts = start - draw(st.sampled_from([0, 0, W, 5 * W, 15 * W]))
        prices = sorted(draw(st.lists(PRICES, min_size=4, max_size=4)))
        volume = draw(st.sampled_from([0, 1, 3, 250]))
        low, open_, close, high = prices
        bars.append(
            {
                "symbol": symbol, "ts": ts, "interval": "1m", "open": open_, "high": high, "low": low,
                "close": close, "volume": volume, "count": min(volume, 7),
                "vwap": (low + high) / 2 if volume else None,
            }
        )  # fmt: skip
    return bars


@st.composite
def event_time_script(draw, records) -> list:
    """``records`` cut into batches, with idle-timeout timers in between (at event times past the
    newest record)."""
    steps, i = [], 0
    newest = T0
    while i < len(records):
        size = draw(st.integers(1, 9))
        batch = records[i : i + size]
        i += size
        steps.append(("batch", 0, batch))
        newest = max([newest] + [r["ts"] for r in batch if isinstance(r["ts"], int)])
        if draw(st.integers(0, 3)) == 0:
            steps.append(("timer", 0, newest + draw(st.sampled_from([0, W, 3 * W, 30 * W]))))
    return steps


@st.composite
def timed_script(draw, records) -> list:
    """``records`` cut into batches at processing times that mostly go forward (sometimes back),
    with timers in between."""
    steps, i, now = [], 0, 1_000
    while i < len(records):
        now = max(0, now + draw(st.sampled_from([0, 1, 3, 4, 30, 40, 60, 70, 250, 1_000_000_000, -5])))
        size = draw(st.integers(1, 4))
        steps.append(("batch", now, records[i : i + size]))
        i += size
        if draw(st.integers(0, 2)) == 0:
            now += draw(st.sampled_from([0, 2, 30, 60, 700_000_000]))
            steps.append(("timer", now, 0))
    return steps


def keyed_records(n: int, keys: str = "abc") -> st.SearchStrategy[list[dict]]:
    """From 8 to ``n`` records ``{"k", "n"}`` of a few keys, ``n`` numbering them."""
    return st.lists(st.sampled_from(keys), min_size=8, max_size=n).map(
        lambda ks: [{"k": k, "n": i} for i, k in enumerate(ks)]
    )


# -- resample_ohlc -----------------------------------------------------------------------------

RESAMPLE_PARAMS = st.fixed_dictionaries(
    {
        "fill": st.sampled_from(["none", "flat"]),
        "allowed_lateness_ns": st.sampled_from([0, W // 2, 2 * W]),
        "idle_timeout_ns": st.sampled_from([None, None, 0, W]),
        "offset_ns": st.sampled_from([0, 17 * SECOND]),
        "max_jump_ns": st.sampled_from([30 * W, 3 * W, None]),
        "collect_late": st.booleans(),
    }
)


def resample(**params):
    """A builder of resamplers to 1m bars with ``params``."""
    params = {"window_ns": W, "interval": "1m", "key": itemgetter("symbol"), **params}
    return lambda clock: ResampleOHLC("bars", NodeStats("bars", "operator.resample_ohlc"), **params)


@WINDOW_CHECKS
@given(RESAMPLE_PARAMS, st.data())
def test_resample_ticks_cut_anywhere_gives_the_uninterrupted_bars(params, data):
    steps = data.draw(event_time_script(data.draw(disordered_ticks())))
    assert_same_as_uninterrupted(resample(**params), steps)


@WINDOW_CHECKS
@given(RESAMPLE_PARAMS, st.data())
def test_resample_bars_cut_anywhere_gives_the_uninterrupted_bars(params, data):
    params = {**params, "offset_ns": 0}  # the bars are aligned to the epoch
    steps = data.draw(event_time_script(data.draw(disordered_bars())))
    build = resample(**{**params, "window_ns": 5 * W, "interval": "5m", "input": "bars"})
    assert_same_as_uninterrupted(build, steps)


@WINDOW_CHECKS
@given(st.data())
def test_resample_read_through_getters_cut_anywhere_gives_the_uninterrupted_bars(data):
    steps = data.draw(event_time_script(data.draw(disordered_ticks())))
    build = resample(get_price=lambda r: r["price"] * 2, collect_late=True, allowed_lateness_ns=W)
    assert_same_as_uninterrupted(build, steps)


# -- window ------------------------------------------------------------------------------------

AGGREGATIONS = [
    ("n", "count", ()), ("sized", "count", (itemgetter("size"),)), ("volume", "sum", (itemgetter("size"),)),
    ("low", "min", (itemgetter("price"),)), ("high", "max", (itemgetter("price"),)),
    ("mean", "mean", (itemgetter("price"),)), ("open", "first", (itemgetter("price"),)),
    ("close", "last", (itemgetter("price"),)), ("vwap", "vwap", (itemgetter("price"), itemgetter("size"))),
]  # fmt: skip


@WINDOW_CHECKS
@given(
    st.sampled_from([1, 3, len(AGGREGATIONS)]),
    st.booleans(),
    st.sampled_from([0, 2 * W]),
    st.sampled_from([None, W]),
    st.data(),
)
def test_window_cut_anywhere_gives_the_uninterrupted_windows(aggregations, pair_key, lateness, idle, data):
    steps = data.draw(event_time_script(data.draw(disordered_ticks())))
    key, fields = itemgetter("symbol"), ("symbol",)
    if pair_key:
        key, fields = (lambda r: (r["symbol"], r["size"] % 2)), ("symbol", "odd")

    def build(clock):
        return Window(
            "w", NodeStats("w", "operator.window"), window_ns=W, key=key, key_fields=fields,
            aggs=AGGREGATIONS[:aggregations], allowed_lateness_ns=lateness, idle_timeout_ns=idle,
            max_jump_ns=30 * W, collect_late=True, offset_ns=5 * SECOND,
        )  # fmt: skip

    assert_same_as_uninterrupted(build, steps)


# -- deduplicate -------------------------------------------------------------------------------


@CHECKS
@given(st.sampled_from([1, 5, 50]), st.data())
def test_deduplicate_cut_anywhere_drops_the_same_repeats(ttl, data):
    records = data.draw(
        st.lists(st.tuples(st.sampled_from("abc"), st.integers(-60, 60)), min_size=10, max_size=80).map(
            lambda drawn: [{"id": k, "ts": 1_000 + 3 * i - back, "n": i} for i, (k, back) in enumerate(drawn)]
        )
    )
    steps = data.draw(event_time_script(records))
    steps = [step for step in steps if step[0] == "batch"]

    def build(clock):
        return Deduplicate(
            "dedupe", NodeStats("dedupe", "operator.deduplicate"), key=itemgetter("id"), ttl_ns=ttl
        )

    assert_same_as_uninterrupted(build, steps)


# -- throttle and buffer (processing time) -----------------------------------------------------


@CHECKS
@given(
    st.sampled_from([1, 2.5, 1000]),
    st.sampled_from([None, 1, 3]),
    st.booleans(),
    st.sampled_from(["drop", "delay"]),
    st.sampled_from([100_000, 3]),
    st.data(),
)
def test_throttle_cut_anywhere_passes_drops_and_delays_the_same(rate, burst, keyed, excess, pending, data):
    steps = data.draw(timed_script(data.draw(keyed_records(60))))

    def build(clock):
        return Throttle(
            "slow", NodeStats("slow", "operator.throttle"), rate=rate, burst=burst,
            key=itemgetter("k") if keyed else None, on_excess=excess, max_pending=pending, clock=clock,
        )  # fmt: skip

    assert_same_as_uninterrupted(build, steps)


@CHECKS
@given(st.sampled_from([1, 3, 10]), st.sampled_from([0, 5, 100, 100, 10**9]), st.data())
def test_buffer_cut_anywhere_releases_the_same_batches(max_items, max_wait, data):
    steps = data.draw(timed_script(data.draw(keyed_records(60))))

    def build(clock):
        return Buffer(
            "batches", NodeStats("batches", "operator.buffer"), max_items=max_items, max_wait_ns=max_wait,
            clock=clock,
        )  # fmt: skip

    assert_same_as_uninterrupted(build, steps)


def test_a_held_records_wait_goes_on_from_the_snapshot_on_the_new_clock():
    clock = Clock()
    op = Buffer(
        "batches", NodeStats("batches", "operator.buffer"), max_items=10, max_wait_ns=100, clock=clock
    )
    op.process([{"n": 1}])
    clock.now = 60
    state = round_trip(op.state_snapshot())
    later = Clock(offset=-5_000)  # another process: its readings have nothing to do with these
    restored = Buffer(
        "batches", NodeStats("b", "operator.buffer"), max_items=10, max_wait_ns=100, clock=later
    )
    restored.restore_state(state)
    later.now = 39
    assert restored.on_timer(0) == []  # waited 60 before the snapshot and 39 since the restore
    later.now = 40
    assert restored.on_timer(0) == [{"n": 1}]


def test_a_throttle_bucket_gains_nothing_for_the_time_between_snapshot_and_restore():
    clock = Clock()
    op = Throttle(
        "slow", NodeStats("slow", "operator.throttle"), rate=1, burst=1, on_excess="delay", clock=clock
    )
    assert op.process([{"n": 1}, {"n": 2}]) == [{"n": 1}]
    clock.now = SECOND // 2
    state = round_trip(op.state_snapshot())
    later = Clock(offset=10**15)
    restored = Throttle(
        "slow", NodeStats("s", "operator.throttle"), rate=1, burst=1, on_excess="delay", clock=later
    )
    restored.restore_state(state)
    later.now = SECOND // 2 - 1  # half a token at the snapshot, and not quite half a second since
    assert restored.on_timer(0) == []
    later.now = SECOND // 2
    assert restored.on_timer(0) == [{"n": 2}]


# -- what cannot be saved, what does not fit ---------------------------------------------------


async def first_two(src):
    """An async generator operator: the first two records."""
    n = 0
    async for item in src:
        if n < 2:
            yield item
        n += 1


def test_an_async_generator_operator_refuses_naming_the_node():
    op = AsyncGeneratorOperator("take", NodeStats("take", "operator.function"), first_two, {})
    op.process([{"n": 1}])
    assert AsyncGeneratorOperator.state_saved is False
    with pytest.raises(StateNotSaved, match=r"operator 'take' .*first_two.*cannot be saved"):
        op.state_snapshot()
    with pytest.raises(StateNotSaved, match="'take'"):
        op.restore_state({})


def test_an_operator_class_without_state_methods_is_not_saved_and_one_with_them_is():
    class Holds(Operator):
        def process(self, batch):
            return []

    class Saves(Holds):
        def state_snapshot(self):
            return {}

    assert Operator.state_saved and Saves.state_saved and ResampleOHLC.state_saved
    assert not Holds.state_saved
    with pytest.raises(StateNotSaved, match="operator 'plug' \\(Holds\\) cannot save its state"):
        Holds("plug", NodeStats("plug", "operator.x")).state_snapshot()


def test_a_state_taken_with_other_windows_or_another_layout_is_refused():
    op = resample()(None)
    op.process([{"symbol": "A", "ts": T0, "price": 1.0, "size": 1}])
    state = round_trip(op.state_snapshot())
    five = ResampleOHLC(
        "bars", NodeStats("bars", "x"), window_ns=5 * W, interval="5m", key=itemgetter("symbol")
    )
    with pytest.raises(
        StateMismatch, match=r"'bars'.*window_ns 60000000000 then, 300000000000 now.*interval"
    ):
        five.restore_state(state)
    with pytest.raises(StateMismatch, match="layout version 0"):
        resample()(None).restore_state({**state, "version": 0})


# -- size and summaries ------------------------------------------------------------------------


def test_ten_thousand_open_keys_snapshot_marshal_and_restore():
    op = resample()(None)
    ticks = [{"symbol": f"S{i}", "ts": T0 + i, "price": 1.0 + i, "size": 1} for i in range(10_000)]
    op.process(ticks)
    data = marshal.dumps(op.state_snapshot())
    restored = resample()(None)
    restored.restore_state(marshal.loads(data))
    assert restored.state_summary() == {"keys": 10_000, "open_windows": 10_000, "held_records": 0}
    assert restored.flush() == op.flush()


def test_summaries_are_small_json_and_say_what_is_held():
    windows = resample(collect_late=True, max_jump_ns=W)(None)
    windows.process(
        [
            {"symbol": "A", "ts": T0 + W, "price": 1.0, "size": 1},
            {"symbol": "A", "ts": T0, "price": 1.0, "size": 1},  # late
            {"symbol": "A", "ts": T0 + 9 * W, "price": 1.0, "size": 1},  # held: jumped ahead
            {"symbol": "B", "ts": T0 + W + 1, "price": 1.0, "size": 1},
        ]
    )
    dedupe = Deduplicate("d", NodeStats("d", "x"), key=itemgetter("k"), ttl_ns=10)
    dedupe.process([{"k": 1, "ts": 5}, {"k": 2, "ts": 7}])
    clock = Clock()
    throttle = Throttle("t", NodeStats("t", "x"), rate=1, key=itemgetter("k"), on_excess="delay", clock=clock)
    throttle.process([{"k": 1}, {"k": 1}, {"k": 2}])
    buffer = Buffer("b", NodeStats("b", "x"), max_items=5, max_wait_ns=10, clock=clock)
    buffer.process([{"k": 1}])
    summaries = [op.state_summary() for op in (windows, dedupe, throttle, buffer)]
    assert summaries == [
        {"keys": 2, "open_windows": 2, "held_records": 1, "late_records": 1},
        {"keys": 2, "horizon_ts": 7},
        {"keys": 2, "held_records": 1},
        {"held_records": 1},
    ]
    json.dumps(summaries)
