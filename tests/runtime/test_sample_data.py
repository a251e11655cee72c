"""The bundled sample file: reproducible from its script, and a full trading day per symbol."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from runtime_lib.sources.replay import read_ticks
from runtime_lib.timeutil import parse_timestamp_ns

DATA = Path(__file__).resolve().parents[2] / "configs" / "data"
SAMPLE = DATA / "sample_ticks.csv.gz"
SCRIPT = DATA / "make_sample_ticks.py"
SYMBOLS = {"AAPL", "MSFT", "SPY", "QQQ"}
MINUTE_NS = 60_000_000_000


def test_script_reproduces_the_committed_file(tmp_path):
    out = tmp_path / "again.csv.gz"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True, cwd=tmp_path
    )
    assert (
        out.read_bytes() == SAMPLE.read_bytes()
    ), "configs/data/sample_ticks.csv.gz is stale; regenerate it with: python configs/data/make_sample_ticks.py"


def test_sample_is_small_with_the_documented_columns():
    assert SAMPLE.stat().st_size < 1_000_000
    with gzip.open(SAMPLE, "rt") as text:
        header, first = text.readline().strip(), text.readline()
    assert header == "symbol,ts,price,size,bid,ask,bid_size,ask_size"
    assert first.split(",")[1].endswith("-04:00")


def test_every_symbol_trades_in_every_minute_of_the_session():
    ticks = list(read_ticks(str(SAMPLE)))
    assert 15_000 <= len(ticks) <= 25_000
    open_ns = parse_timestamp_ns("2024-03-15T09:30:00-04:00")
    minutes = defaultdict(set)
    for tick in ticks:
        minutes[tick["symbol"]].add((tick["ts"] - open_ns) // MINUTE_NS)
    assert set(minutes) == SYMBOLS
    for symbol in SYMBOLS:
        assert minutes[symbol] == set(range(390)), symbol
    assert any(t["size"] < 100 for t in ticks)
    assert all(t["bid"] < t["price"] < t["ask"] for t in ticks)
