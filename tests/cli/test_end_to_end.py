"""The main job end to end: `mdp run` and the standalone module against the bundled sample.

Expected bars are computed here from the CSV with csv and gzip only, not with runtime_lib.
"""

from __future__ import annotations

import csv
import gzip
import json
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace

import pytest

from compiler.driver import compile_text
from tests.support.jobs import (
    BARS_CONFIG,
    CONFIGS,
    MDP,
    PYTHON,
    bar_rows,
    compile_config,
    job_env,
    make_layout,
    parse_summary,
    run,
    synthetic_config,
)

SAMPLE = CONFIGS / "data" / "sample_ticks.csv.gz"
DB = "mdp-data/bars.db"  # the store of configs/dag/bars.yaml, relative to the working directory
MINUTE_NS = 60_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_to_ns(text: str) -> int:
    """Epoch nanoseconds of an ISO-8601 timestamp with an offset (the sample has microseconds)."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    delta = moment - EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1_000


@cache
def sample() -> SimpleNamespace:
    """The sample's tick count, the ticks kept by ``size >= 100``, and the 1m bars they make."""
    total = 0
    windows: dict[tuple[str, int], list[tuple[int, int, float, int]]] = defaultdict(list)
    with gzip.open(SAMPLE, "rt", encoding="utf-8", newline="") as text:
        for line, row in enumerate(csv.DictReader(text)):
            total += 1
            size = int(row["size"])
            if size < 100:
                continue
            ts = iso_to_ns(row["ts"])
            windows[(row["symbol"], ts - ts % MINUTE_NS)].append((ts, line, float(row["price"]), size))
    bars = {}
    for (symbol, start), ticks in windows.items():
        ticks.sort()  # by event time, ties in file order
        prices = [price for _, _, price, _ in ticks]
        volume = sum(size for *_, size in ticks)
        bars[(symbol, start)] = {
            "interval": "1m",
            "open": prices[0],
            "high": max(prices),
            "low": min(prices),
            "close": prices[-1],
            "volume": volume,
            "count": len(ticks),
            "vwap": sum(price * size for _, _, price, size in ticks) / volume,
        }
    kept = sum(len(ticks) for ticks in windows.values())
    return SimpleNamespace(total=total, kept=kept, bars=bars)


def as_bars(rows: list[tuple]) -> dict[tuple[str, int], dict]:
    """Table rows (symbol, interval, ts, open, high, low, close, volume, count, vwap) by key."""
    names = ("interval", "open", "high", "low", "close", "volume", "count", "vwap")
    out = {}
    for symbol, interval, ts, *values in rows:
        assert (symbol, ts) not in out, f"two rows for {symbol} at {ts}"
        out[(symbol, ts)] = dict(zip(names, (interval, *values)))
    return out


def assert_bar_equal(got: dict, want: dict, where) -> None:
    for name in ("interval", "open", "high", "low", "close", "volume", "count"):
        assert got[name] == want[name], (where, name, got[name], want[name])
    assert got["vwap"] == pytest.approx(want["vwap"], rel=1e-12), (where, "vwap")


@pytest.fixture(scope="module")
def mdp_runs(tmp_path_factory):
    """`mdp run configs/dag/bars.yaml` twice in one working directory.

    Between the runs the cached module is edited, as a cache written by an older build of the
    compiler would differ: the second run must still run what the compiler produces now.
    """
    root = make_layout(tmp_path_factory.mktemp("mdp-run"))
    env = job_env(root)
    first = run([MDP, "run", BARS_CONFIG], root, env)
    rows_first = bar_rows(root / DB)
    [cached] = (root / "mdp-cache").iterdir()
    fresh = cached.read_text()
    assert 'JOB_NAME = "bars"' in fresh
    cached.write_text(fresh.replace('JOB_NAME = "bars"', 'JOB_NAME = "stale"'))
    second = run([MDP, "run", BARS_CONFIG], root, env)
    return SimpleNamespace(
        root=root, first=first, second=second, rows_first=rows_first, rows_second=bar_rows(root / DB)
    )


def test_mdp_run_writes_one_bar_per_symbol_and_minute(mdp_runs):
    expected = sample()
    assert 1000 < len(expected.bars) < expected.kept  # the sample has many ticks per bar
    assert len(mdp_runs.rows_first) == len(expected.bars)
    assert set(as_bars(mdp_runs.rows_first)) == set(expected.bars)


def test_bars_match_the_csv(mdp_runs):
    got, want = as_bars(mdp_runs.rows_first), sample().bars
    keys = sorted(want)
    by_symbol = {}
    for key in keys:
        by_symbol.setdefault(key[0], key)  # each symbol's first minute
    spot = {keys[0], keys[len(keys) // 3], keys[len(keys) // 2], keys[-1], *by_symbol.values()}
    for key in sorted(spot):
        assert_bar_equal(got[key], want[key], key)
    for key in keys:  # and then every other bar
        assert_bar_equal(got[key], want[key], key)


def test_second_run_leaves_no_duplicates(mdp_runs):
    assert len(mdp_runs.rows_second) == len(mdp_runs.rows_first)
    assert mdp_runs.rows_second == mdp_runs.rows_first
    with sqlite3.connect(mdp_runs.root / DB) as connection:
        duplicates = connection.execute(
            "SELECT symbol, interval, ts, COUNT(*) FROM bars GROUP BY symbol, interval, ts HAVING COUNT(*) > 1"
        ).fetchall()
        key = [
            row[1]
            for row in sorted(connection.execute("PRAGMA table_info(bars)"), key=lambda r: r[5])
            if row[5]
        ]
    assert duplicates == []
    assert key == ["symbol", "interval", "ts"]
    # One cached module, holding what the compiler gives for the config.
    cached = list((mdp_runs.root / "mdp-cache").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("bars-"), cached
    config = mdp_runs.root / BARS_CONFIG
    assert cached[0].read_text(encoding="utf-8") == compile_text(BARS_CONFIG, config.read_text()).source


def assert_full_day_summary(text: str) -> None:
    expected = sample()
    summary = parse_summary(text)
    bars = len(expected.bars)
    assert summary.job == "bars"
    assert summary.elapsed_s > 0
    assert summary.nodes == {
        "ticks": {
            "type": "provider.replay",
            "in": 0,
            "out": expected.total,
            "late": 0,
            "dropped": 0,
            "errors": 0,
            "set_aside": 0,
        },
        "liquid": {
            "type": "operator.filter",
            "in": expected.total,
            "out": expected.kept,
            "late": 0,
            "dropped": expected.total - expected.kept,
            "errors": 0,
            "set_aside": 0,
        },
        "bars_1m": {
            "type": "operator.resample_ohlc",
            "in": expected.kept,
            "out": bars,
            "late": 0,
            "dropped": 0,
            "errors": 0,
            "set_aside": 0,
        },
        "store": {
            "type": "sink.store",
            "in": bars,
            "out": bars,
            "late": 0,
            "dropped": 0,
            "errors": 0,
            "set_aside": 0,
        },
    }
    assert summary.rows_written == {"store": bars}


def test_summary_reports_every_node(mdp_runs):
    for result in (mdp_runs.first, mdp_runs.second):
        assert_full_day_summary(result.stderr)


def test_standalone_module_writes_the_same_table(tmp_path, mdp_runs):
    root = make_layout(tmp_path / "work")
    result = run([PYTHON, "generated/bars.py"], root, job_env(tmp_path))
    assert_full_day_summary(result.stderr)
    assert bar_rows(root / DB) == mdp_runs.rows_first


def test_max_events_stops_after_exactly_n_source_events(tmp_path):
    root = make_layout(tmp_path / "work")
    n = 5_000  # not a multiple of the replay's batch size (1024)
    result = run([PYTHON, "generated/bars.py", "--max-events", str(n)], root, job_env(tmp_path))
    summary = parse_summary(result.stderr)
    assert summary.nodes["ticks"]["out"] == n
    assert summary.nodes["liquid"]["in"] == n
    kept = summary.nodes["liquid"]["out"]
    assert 0 < kept < n
    assert summary.nodes["bars_1m"]["in"] == kept
    rows = bar_rows(root / DB)
    assert summary.rows_written["store"] == summary.nodes["bars_1m"]["out"] == len(rows)
    assert sum(row[8] for row in rows) == kept  # every kept tick is in a bar: windows were flushed


def test_duration_stops_an_endless_source_and_flushes(tmp_path):
    config = tmp_path / "endless.yaml"
    config.write_text(
        synthetic_config(
            "endless",
            rate=2000,
            nodes="""\
    - id: out
      type: sink.jsonl
      params: {path: out/ticks.jsonl}""",
            edges="    - [ticks, out]",
        )
    )
    module = compile_config(config, tmp_path / "endless.py")
    result = run([PYTHON, str(module), "--duration", "1"], tmp_path, job_env(tmp_path), check=False)
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert 1.0 <= summary.elapsed_s < 10
    produced = summary.nodes["ticks"]["out"]
    assert produced > 100
    lines = (tmp_path / "out" / "ticks.jsonl").read_text().splitlines()
    assert len(lines) == produced == summary.rows_written["out"] == summary.nodes["out"]["in"]
    ticks = [json.loads(line) for line in lines]
    step = ticks[1]["ts"] - ticks[0]["ts"]
    assert step == 500_000  # 1 / 2000 s of event time per tick
    assert [t["ts"] for t in ticks] == [ticks[0]["ts"] + i * step for i in range(produced)]
