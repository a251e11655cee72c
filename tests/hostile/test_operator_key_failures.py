"""A record that makes a stateful operator fail is set aside, counted and named; the job goes on.

Its key (or a get_* reader, or a window's aggregation) raises, or its ``ts`` is missing or no
int, or its price cannot be aggregated: the record is counted in ``stats.errors`` and logged
naming the node, exactly like a record whose expression raised in a fused loop, and every
other record of the batch is processed as if it had not been there.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from pathlib import Path

import pytest

from runtime_lib.operators.deduplicate import Deduplicate
from runtime_lib.operators.resample_ohlc import BarMismatch, ResampleOHLC
from runtime_lib.operators.throttle import Throttle
from runtime_lib.operators.window import Window
from runtime_lib.stats import NodeStats
from tests.support.jobs import MDP, job_env, parse_summary, run

MINUTE = 60 * 1_000_000_000
T0 = 1_710_495_000 * 1_000_000_000


def tick(i: int, price: float = 1.0, symbol: str = "A", **extra) -> dict:
    return {"symbol": symbol, "ts": T0 + i * MINUTE // 4, "price": price, "size": 10, **extra}


def bars(**kw) -> ResampleOHLC:
    kw = {"window_ns": MINUTE, "interval": "1m", "key": itemgetter("symbol"), **kw}
    return ResampleOHLC("bars_1m", NodeStats("bars_1m", "operator.resample_ohlc"), **kw)


def summary(out: list[dict]) -> list[tuple]:
    return [(b["ts"] - T0, b["open"], b["close"], b["volume"], b["count"]) for b in out]


GOOD = [tick(i, 1.0 + i) for i in range(12)]  # three minutes of four ticks
EXPECTED = [(0, 1.0, 4.0, 40, 4), (MINUTE, 5.0, 8.0, 40, 4), (2 * MINUTE, 9.0, 12.0, 40, 4)]
LAST = tick(11, 12.0)  # a tick of the last minute: never late, wherever it is inserted
BAD_TICKS = {
    "missing ts": {"symbol": "A", "price": 1.0, "size": 1},
    "ts as text": {**LAST, "ts": "2024-03-15T09:30:00Z"},
    "ts as a float": {**LAST, "ts": float(LAST["ts"])},
    "ts is None": {**LAST, "ts": None},
    "ts is True": {**LAST, "ts": True},
    "price as text": {**LAST, "price": "n/a"},
    "size is None": {**LAST, "size": None},
    "missing price": {"symbol": "A", "ts": LAST["ts"], "size": 1},
    "unhashable key": {**LAST, "symbol": ["A"]},
}


@pytest.mark.parametrize("name", sorted(BAD_TICKS))
@pytest.mark.parametrize("where", [0, 3, 11])
def test_resample_sets_aside_a_tick_it_cannot_take_and_keeps_the_others(name, where, caplog):
    op = bars()
    batch = GOOD[:where] + [BAD_TICKS[name]] + GOOD[where:]
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        out = op.process(batch[:7]) + op.process(batch[7:]) + op.flush()
    assert summary(out) == EXPECTED
    assert (op.stats.errors, op.stats.late, op.stats.events_in, op.stats.events_out) == (1, 0, 13, 3)
    assert "record set aside in 'bars_1m': " in caplog.text


def test_a_failing_key_is_set_aside_with_its_error_in_the_log(caplog):
    op = bars(key=lambda t: t["sym"].upper())
    batch = [{**t, "sym": "a"} for t in GOOD]
    batch.insert(5, tick(4))  # no "sym"
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        out = op.process(batch) + op.flush()
    assert summary(out) == EXPECTED and op.stats.errors == 1
    assert "record set aside in 'bars_1m': KeyError: 'sym'; record: {'symbol': 'A'" in caplog.text


def test_a_failing_get_function_is_set_aside():
    op = bars(get_price=lambda t: t["px"] * 1.0)
    batch = [{**t, "px": t["price"]} for t in GOOD]
    batch.insert(2, tick(1))  # no "px"
    out = op.process(batch) + op.flush()
    assert summary(out) == EXPECTED and op.stats.errors == 1 and op.stats.events_in == 13


def test_only_the_first_failures_are_logged_but_all_are_counted(caplog):
    op = bars()
    with caplog.at_level(logging.WARNING, logger="mdp.job"):
        op.process([{"symbol": "A"}] * 25 + GOOD)
    assert op.stats.errors == 25
    assert caplog.text.count("record set aside in 'bars_1m'") == 10
    assert "node 'bars_1m': further records set aside for errors are counted, not logged" in caplog.text


def test_a_bar_with_a_missing_field_is_set_aside_but_misfitting_bars_stop_the_job():
    op = bars(window_ns=5 * MINUTE, interval="5m", input="bars")
    bar = {"symbol": "A", "ts": T0, "interval": "1m", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
           "volume": 10, "count": 3, "vwap": 1.2}  # fmt: skip
    broken = {k: v for k, v in bar.items() if k != "volume"}
    out = op.process([broken, bar, {**bar, "ts": T0 + MINUTE, "high": "x"}]) + op.flush()
    assert [(b["high"], b["volume"], b["count"]) for b in out] == [(2.0, 10, 3)] and op.stats.errors == 2
    with pytest.raises(BarMismatch, match="straddles"):
        op.process([{**bar, "ts": T0 + 4 * MINUTE + 30 * 1_000_000_000}])  # [4m30s, 5m30s)


def test_window_sets_aside_a_record_whose_key_or_aggregation_fails_and_no_aggregation_takes_it():
    aggs = [("n", "count", ()), ("q", "sum", (lambda r: r["v"] / r["d"],)), ("hi", "max", (itemgetter("v"),))]
    stats = NodeStats("per_min", "operator.window")
    op = Window(
        "per_min", stats, window_ns=MINUTE, key=itemgetter("symbol"), key_fields=("symbol",), aggs=aggs
    )
    records = [{**tick(i), "v": float(i), "d": 2} for i in range(8)]
    records.insert(3, {**tick(2), "v": 100.0, "d": 0})  # count and max come before the division
    records.insert(6, {**tick(5), "v": 100.0, "d": 1, "symbol": {}})  # unhashable key
    records.insert(0, {"v": 1.0, "d": 1, "ts": T0})  # no symbol
    out = op.process(records) + op.flush()
    assert [(r["n"], r["q"], r["hi"]) for r in out] == [(4, 3.0, 3.0), (4, 11.0, 7.0)]
    assert (op.stats.errors, op.stats.events_in, op.stats.events_out) == (3, 11, 2)


def test_deduplicate_sets_aside_a_record_whose_key_or_ts_fails_and_counts_no_drop_for_it():
    op = Deduplicate(
        "dedupe", NodeStats("dedupe", "operator.deduplicate"), key=lambda r: (r["id"], r["x"]), ttl_ns=10
    )
    records = [
        {"id": 1, "x": 0, "ts": 0},
        {"id": 1, "ts": 1},  # the key fails
        {"id": 1, "x": 0, "ts": "later"},  # ts does not compare
        {"id": 1, "x": 0, "ts": 5},  # a duplicate
        {"id": [1], "x": 0, "ts": 6},  # an unhashable key
        {"id": 1, "x": 0, "ts": 10},
    ]
    out = op.process(records)
    assert [r["ts"] for r in out] == [0, 10]
    assert (op.stats.errors, op.stats.dropped, op.stats.events_out) == (3, 1, 2)


def test_throttle_sets_aside_a_record_whose_key_fails():
    op = Throttle("slow", NodeStats("slow", "operator.throttle"), rate=1, burst=2, key=itemgetter("symbol"),
                  on_excess="delay", clock=lambda: 0)  # fmt: skip
    out = op.process([{"symbol": "A", "n": 0}, {"n": 1}, {"symbol": ["A"], "n": 2}, {"symbol": "A", "n": 3},
                      {"symbol": "A", "n": 4}])  # fmt: skip
    assert [r["n"] for r in out] == [0, 3] and op.pending == 1
    assert [r["n"] for r in op.flush()] == [4]
    assert (op.stats.errors, op.stats.dropped) == (2, 0)


CONFIG = """\
name: bad_key
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {path: ticks.csv}
    - id: bars_1m
      type: operator.resample_ohlc
      params: {window: 1m, key: "symbol if size != 100 else size / (size - size)"}
    - id: out
      type: sink.jsonl
      params: {path: bars.jsonl}
  edges:
    - [ticks, bars_1m]
    - [bars_1m, out]
"""


def test_mdp_run_sets_aside_the_tick_whose_key_fails_names_the_node_and_exits_0(tmp_path: Path):
    rows = ["symbol,ts,price,size"] + [
        f"AAA,2024-03-15T09:3{i}:00Z,{10 + i}.0,{100 if i == 4 else 50}" for i in range(8)
    ]
    (tmp_path / "ticks.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "bad_key.yaml").write_text(CONFIG, encoding="utf-8")
    result = run([MDP, "run", "bad_key.yaml"], tmp_path, job_env(tmp_path))
    node = parse_summary(result.stderr).nodes["bars_1m"]
    assert (node["in"], node["out"], node["errors"]) == (8, 7, 1)
    assert (
        "record set aside in 'bars_1m': ZeroDivisionError: division by zero; record: {'symbol': 'AAA'"
        in result.stderr
    )
    assert len((tmp_path / "bars.jsonl").read_text(encoding="utf-8").splitlines()) == 7
