"""One wild timestamp cannot swallow a day: ``max_jump`` of the event-time operators.

A tick more than ``max_jump`` ahead of its key (and of every key) is held until the key's next
tick; that tick confirms it (both go on) or shows it to be an outlier (set aside, counted,
logged; the watermark does not move). Checked by hand-worked cases, against a reference model
of the rule with pandas as the oracle for the bars, and through ``mdp run``.
"""

from __future__ import annotations

import gzip
import logging
from operator import itemgetter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import DiagnosticError, render
from compiler.driver import compile_text
from runtime_lib.operators.resample_ohlc import ResampleOHLC
from runtime_lib.operators.window import Window
from runtime_lib.stats import NodeStats
from tests.runtime.test_resample_ohlc import assert_same_bars, pandas_bars
from tests.support.jobs import MDP, job_env, parse_summary, run

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY = 1440 * MINUTE
FRIDAY = 1_710_495_000 * 1_000_000_000  # 2024-03-15T09:30:00Z
OUTLIER = "outlier: event time jumped more than 1d"


def bars_op(**kw) -> ResampleOHLC:
    kw = {"window_ns": MINUTE, "interval": "1m", "key": itemgetter("symbol"), **kw}
    return ResampleOHLC("bars_1m", NodeStats("bars_1m", "operator.resample_ohlc"), **kw)


def tick(ts: int, price: float = 1.0, symbol: str = "A", size: int = 1) -> dict:
    return {"symbol": symbol, "ts": ts, "price": price, "size": size}


def minutes(bars: list[dict], since: int = FRIDAY) -> list[tuple[str, int]]:
    return [(b["symbol"], (b["ts"] - since) // MINUTE) for b in bars]


def test_a_tick_stamped_a_year_ahead_is_set_aside_and_the_rest_of_the_day_comes_out(caplog):
    day = [tick(FRIDAY + i * MINUTE, 10.0 + i) for i in range(390)]
    typo = tick(FRIDAY + 100 * MINUTE + 366 * DAY, 99.0)  # 2025 instead of 2024
    op = bars_op()
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        out = op.process(day[:100] + [typo] + day[100:]) + op.flush()
    assert minutes(out) == [("A", i) for i in range(390)]
    assert [b["close"] for b in out] == [10.0 + i for i in range(390)]
    assert op.stats.late == 0 and op.stats.set_aside == {OUTLIER: 1}
    assert (op.stats.events_in, op.stats.events_out) == (391, 390)
    assert (
        "node 'bars_1m' set aside a record (outlier: event time jumped more than 1d): key 'A': "
        "ts 1742123400000000000 (2025-03-16T11:10:00.000000000Z) is about 366.0d ahead of "
        "1710500940000000000 (2024-03-15T11:09:00.000000000Z), and the key's next ts "
        "1710501000000000000 (2024-03-15T11:10:00.000000000Z) does not confirm it; "
        "record: {'symbol': 'A', 'ts': 1742123400000000000, 'price': 99.0, 'size': 1}"
    ) in caplog.text


def test_without_max_jump_the_same_typo_makes_the_rest_of_the_day_late():
    day = [tick(FRIDAY + i * MINUTE) for i in range(390)]
    op = bars_op(max_jump_ns=None)
    out = op.process(day[:100] + [tick(FRIDAY + 366 * DAY)] + day[100:]) + op.flush()
    assert len(out) == 101 and op.stats.late == 290 and op.stats.set_aside == {}


def test_a_weekend_gap_passes_and_only_the_first_key_to_cross_it_waits():
    monday = FRIDAY + 3 * DAY
    op = bars_op()
    assert op.process([tick(FRIDAY, 1.0, "A"), tick(FRIDAY, 2.0, "B")]) == []
    assert op.process([tick(monday, 3.0, "A")]) == []  # held: nothing has crossed the weekend yet
    # A's next tick confirms the jump: A's Friday bar closes, and A's Monday tick goes on.
    assert minutes(op.process([tick(monday + 30 * SECOND, 4.0, "A")])) == [("A", 0)]
    # B crosses after A did: its Monday tick is no jump any more and closes B's Friday bar at once.
    assert minutes(op.process([tick(monday, 5.0, "B")])) == [("B", 0)]
    out = op.flush()
    assert minutes(out, monday) == [("A", 0), ("B", 0)]
    assert [(b["open"], b["close"]) for b in out] == [(3.0, 4.0), (5.0, 5.0)]
    assert op.stats.set_aside == {} and op.stats.late == 0


def test_the_next_tick_confirms_a_jump_within_the_allowed_lateness():
    ahead = FRIDAY + 2 * DAY + 40 * SECOND
    op = bars_op(allowed_lateness_ns=MINUTE)
    op.process([tick(FRIDAY, 1.0), tick(ahead, 2.0)])
    out = op.process([tick(ahead - 30 * SECOND, 3.0)])  # older than the held tick, within lateness
    out += op.flush()
    assert [(b["open"], b["close"], b["count"]) for b in out] == [(1.0, 1.0, 1), (3.0, 2.0, 2)]
    assert op.stats.set_aside == {}


def test_a_next_tick_older_than_the_held_one_minus_the_lateness_makes_it_an_outlier():
    ahead = FRIDAY + 2 * DAY
    op = bars_op(allowed_lateness_ns=MINUTE)
    op.process([tick(FRIDAY, 1.0), tick(ahead, 2.0)])
    out = op.process([tick(ahead - MINUTE - 1, 3.0)])  # would be late after the held tick
    out += op.flush()
    assert [(b["close"], b["count"]) for b in out] == [(1.0, 1), (3.0, 1)]
    assert op.stats.set_aside == {OUTLIER: 1} and op.stats.late == 0


def test_a_tick_held_at_end_of_stream_goes_on():
    op = bars_op()
    op.process([tick(FRIDAY, 1.0), tick(FRIDAY + 5 * DAY, 2.0)])
    out = op.flush()
    assert minutes(out) == [("A", 0), ("A", 5 * 1440)]
    assert op.stats.set_aside == {} and op.stats.events_out == 2


def test_a_new_key_far_ahead_of_every_key_is_held_and_can_be_an_outlier():
    op = bars_op()
    op.process([tick(FRIDAY, 1.0, "A"), tick(FRIDAY + 400 * DAY, 2.0, "B"), tick(FRIDAY + MINUTE, 3.0, "B")])
    out = op.flush()
    assert minutes(out) == [("A", 0), ("B", 1)]
    assert op.stats.set_aside == {OUTLIER: 1}


def test_a_second_jump_while_one_is_held_is_judged_in_turn():
    op = bars_op()
    op.process([tick(FRIDAY, 1.0), tick(FRIDAY + 10 * DAY, 2.0)])  # held
    op.process([tick(FRIDAY + 3 * DAY, 3.0)])  # older: the first is an outlier, this one is held
    out = op.process([tick(FRIDAY + 3 * DAY + MINUTE, 4.0)]) + op.flush()  # confirms the second
    assert minutes(out) == [("A", 0), ("A", 3 * 1440), ("A", 3 * 1440 + 1)]
    assert op.stats.set_aside == {OUTLIER: 1}


def test_a_window_wider_than_max_jump_checks_jumps_inside_the_current_window():
    week = 7 * DAY
    start = FRIDAY - FRIDAY % week
    op = bars_op(window_ns=week, interval="7d")
    op.process([tick(start, 1.0), tick(start + 3 * DAY, 50.0), tick(start + MINUTE, 2.0)])  # a typo
    op.process([tick(start + 2 * DAY, 3.0), tick(start + 2 * DAY + MINUTE, 4.0)])  # a real jump
    [bar] = op.flush()
    assert (bar["ts"], bar["high"], bar["close"], bar["count"]) == (start, 4.0, 4.0, 4)
    assert op.stats.set_aside == {OUTLIER: 1}


def test_bars_into_coarser_bars_follow_the_same_rule():
    five = ResampleOHLC("bars_5m", NodeStats("bars_5m", "operator.resample_ohlc"), window_ns=5 * MINUTE,
                        interval="5m", key=itemgetter("symbol"), input="bars")  # fmt: skip

    def bar(ts: int, close: float) -> dict:
        return {"symbol": "A", "ts": ts, "interval": "1m", "open": close, "high": close, "low": close,
                "close": close, "volume": 1, "count": 1, "vwap": close}  # fmt: skip

    out = five.process([bar(FRIDAY, 1.0), bar(FRIDAY + 30 * DAY, 9.0), bar(FRIDAY + MINUTE, 2.0)])
    out += five.process([bar(FRIDAY + 5 * MINUTE, 3.0)]) + five.flush()
    assert [(b["close"], b["count"]) for b in out] == [(2.0, 2), (3.0, 1)]
    assert five.stats.set_aside == {OUTLIER: 1} and five.stats.late == 0


def test_operator_window_follows_the_same_rule():
    stats = NodeStats("per_min", "operator.window")
    op = Window(stats.node_id, stats, window_ns=MINUTE, key=itemgetter("symbol"), key_fields=("symbol",),
                aggs=[("n", "count", ())])  # fmt: skip
    records = [tick(FRIDAY + i * MINUTE) for i in range(10)]
    out = op.process(records[:5] + [tick(FRIDAY + 3 * DAY)] + records[5:]) + op.flush()
    assert [(r["ts"] - FRIDAY) // MINUTE for r in out] == list(range(10))
    assert op.stats.set_aside == {OUTLIER: 1} and op.stats.late == 0


def test_max_jump_must_be_positive():
    with pytest.raises(ValueError, match="max_jump must be positive"):
        bars_op(max_jump_ns=0)


# -- the rule as a reference model ----------------------------------------------------------------


def model(ticks: list[dict], window: int, lateness: int, max_jump: int) -> tuple[list, int, int]:
    """The ticks the rule accepts (in order), and how many are late and outliers, written plainly."""
    newest: dict[str, int] = {}  # symbol -> newest accepted ts
    held: dict[str, dict] = {}
    accepted: list[dict] = []
    counts = {"late": 0, "outliers": 0, "newest_start": None}

    def take(t: dict) -> None:
        k = t["symbol"]
        if k in newest and t["ts"] < newest[k] - lateness:
            counts["late"] += 1
            return
        accepted.append(t)
        newest[k] = max(newest.get(k, t["ts"]), t["ts"])
        start = t["ts"] - t["ts"] % window
        if counts["newest_start"] is None or start > counts["newest_start"]:
            counts["newest_start"] = start

    def arrive(t: dict) -> None:
        k = t["symbol"]
        if k in held:
            h = held.pop(k)
            if t["ts"] >= h["ts"] - lateness:
                take(h)
            else:
                counts["outliers"] += 1
            arrive(t)
            return
        references = [v for v in (newest.get(k), counts["newest_start"]) if v is not None]
        if references and t["ts"] - max(references) > max_jump:
            held[k] = t
            return
        take(t)

    for t in ticks:
        arrive(t)
    for h in held.values():
        take(h)
    return accepted, counts["late"], counts["outliers"]


@st.composite
def jumpy_streams(draw):
    """Ticks of a few symbols whose event time mostly creeps on, sometimes leaps or falls back."""
    window = 10
    max_jump = draw(st.sampled_from([5, 25, 60]))  # 5: narrower than the window
    lateness = draw(st.sampled_from([0, 3, 12]))
    small = [st.integers(0, 4)] * 3 + [st.integers(0, 12)] * 2 + [st.integers(-15, 0)] * 2
    step = st.one_of(*small, st.integers(20, 200), st.integers(-200, -20))
    ts = {s: 1_000 for s in "ABC"}
    ticks = []
    for _ in range(draw(st.integers(0, 60))):
        symbol = draw(st.sampled_from("ABC"))
        ts[symbol] += draw(step)
        ticks.append(tick(ts[symbol], draw(st.integers(1, 99)) / 4, symbol, draw(st.integers(1, 9))))
    cuts = sorted(draw(st.sets(st.integers(0, len(ticks)), max_size=6)) | {0, len(ticks)})
    return window, max_jump, lateness, ticks, [ticks[a:b] for a, b in zip(cuts, cuts[1:])]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jumpy_streams())
def test_bars_match_the_model_whatever_the_batches(case):
    window, max_jump, lateness, ticks, batches = case
    accepted, late, outliers = model(ticks, window, lateness, max_jump)
    op = bars_op(window_ns=window, allowed_lateness_ns=lateness, max_jump_ns=max_jump)
    whole = bars_op(window_ns=window, allowed_lateness_ns=lateness, max_jump_ns=max_jump)
    out = [b for batch in batches for b in op.process(batch)] + op.flush()
    assert out == whole.process(ticks) + whole.flush()  # the cut into batches changes nothing
    assert_same_bars(out, pandas_bars(accepted, window, 0))
    assert (op.stats.late, op.stats.set_aside_total) == (late, outliers)
    assert sum(b["count"] for b in out) + late + outliers == len(ticks)  # nothing silently lost


# -- through mdp run ------------------------------------------------------------------------------

CONFIG = """\
name: typo_day
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {path: ticks.csv.gz}
    - id: bars_1m
      type: operator.resample_ohlc
      params: {window: 1m}
    - id: out
      type: sink.jsonl
      params: {path: bars.jsonl}
  edges:
    - [ticks, bars_1m]
    - [bars_1m, out]
"""


@pytest.mark.parametrize(
    ("value", "compiled"),
    [("2d", "max_jump_ns=172_800_000_000_000,"), ("none", "max_jump_ns=None,"), ("null", "max_jump_ns=None,"),
     ("1h", "max_jump_ns=3_600_000_000_000,")],
)  # fmt: skip
def test_max_jump_compiles_into_the_operator(value, compiled):
    text = CONFIG.replace("{window: 1m}", f"{{window: 1m, max_jump: {value}}}")
    lines = [line.strip() for line in compile_text("c.yaml", text).source.splitlines()]
    assert compiled in lines
    default = [line.strip() for line in compile_text("c.yaml", CONFIG).source.splitlines()]
    assert "max_jump_ns=86_400_000_000_000," in default


def test_max_jump_of_zero_is_refused_where_it_is_written():
    text = CONFIG.replace("{window: 1m}", "{window: 1m, max_jump: 0s}")
    with pytest.raises(DiagnosticError) as info:
        compile_text("c.yaml", text)
    assert render(info.value.diagnostics[0], text) == (
        "c.yaml:10:38: error: max_jump must be longer than 0; write none to turn the jump check off\n"
        "   10 |       params: {window: 1m, max_jump: 0s}\n"
        "      |                                      ^~"
    )


def test_mdp_run_names_the_outlier_in_the_summary_and_keeps_the_day(tmp_path: Path):
    rows = ["symbol,ts,price,size"]
    for i in range(390):
        hh, mm = divmod(9 * 60 + 30 + i, 60)
        stamp = f"2024-03-15T{hh:02d}:{mm:02d}:00Z"
        rows.append(f"AAA,{stamp},{100 + i / 100:.2f},100")
        if i == 60:
            rows.append(f"AAA,{stamp.replace('2024', '2025')},1.00,100")  # a year typed wrong
    with gzip.open(tmp_path / "ticks.csv.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    (tmp_path / "typo_day.yaml").write_text(CONFIG, encoding="utf-8")
    result = run([MDP, "run", "typo_day.yaml"], tmp_path, job_env(tmp_path))
    summary = parse_summary(result.stderr)
    assert summary.set_aside == {"bars_1m": {OUTLIER: 1}}
    assert summary.nodes["bars_1m"]["in"] == 391
    assert (summary.nodes["bars_1m"]["out"], summary.nodes["bars_1m"]["late"]) == (390, 0)
    assert len((tmp_path / "bars.jsonl").read_text(encoding="utf-8").splitlines()) == 390
    assert (
        "key 'AAA': ts 1742034600000000000 (2025-03-15T10:30:00.000000000Z) is 365d ahead of "
        "1710498600000000000 (2024-03-15T10:30:00.000000000Z)"
    ) in result.stderr
    assert result.returncode == 0
