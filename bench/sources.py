"""Benchmark: how fast the sources produce ticks, and a whole replay -> bars -> SQLite job against pandas.

Writes 1,000,000 in-order ticks of 10 symbols (random walk, fixed seed, ``ts`` in integer
nanoseconds; columns symbol, ts, price, size) to a CSV file and a gzip copy in a temporary
folder, then, median of several runs each,

  (a) ``mdp run`` of a replay of the CSV, and of the CSV.gz, into ``sink.null``;
  (b) ``mdp run`` of ``provider.synthetic`` (unpaced, ``count`` 1,000,000) into ``sink.null``;
  (c) ``read_ticks`` in this process, with pyarrow and the standard-library way, for reference;
  (d) ``mdp run`` of the CSV -> 1-minute ``resample_ohlc`` -> ``sink.store`` (SQLite) job, and
      a pandas script doing ``read_csv`` and a per-symbol ``resample('1min').ohlc()`` of the
      same file, side by side.

An ``mdp run`` is timed two ways: the job time its summary reports (``finished in``, from
building the pipeline to the last row written) and the wall time of the whole command
(start-up, imports and compile cache included). The pandas script is timed in this process
(``read_csv`` to the last bar) and as a command of its own. Targets: (a) and (b) at least
1,000,000 ticks/s of job time; (d) pandas time / mdp job time at least 0.35.

Run: ``python bench/sources.py [--ticks N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime_lib.sources.replay import FAST_READER, read_tick_chunks  # noqa: E402

SYMBOLS = [f"SYM{i}" for i in range(10)]
FINISHED = re.compile(r"job '[^']*' finished in ([0-9.]+) s")
PANDAS = """
import sys, time
import pandas as pd
started = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
frame["ts"] = pd.to_datetime(frame["ts"], unit="ns", utc=True)
bars = frame.set_index("ts").groupby("symbol")["price"].resample("1min").ohlc()
print(len(bars), time.perf_counter() - started)
"""
REPLAY_NULL = """
name: replay_null
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: {path}}}}}
    - {{id: out, type: sink.null}}
  edges: [[ticks, out]]
"""
SYNTHETIC_NULL = """
name: synthetic_null
dag:
  nodes:
    - {{id: ticks, type: provider.synthetic, params: {{symbols: [{symbols}], count: {count}}}}}
    - {{id: out, type: sink.null}}
  edges: [[ticks, out]]
"""
REPLAY_BARS = """
name: replay_bars
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: {path}}}}}
    - {{id: bars_1m, type: operator.resample_ohlc, params: {{window: 1m}}}}
    - {{id: store, type: sink.store, params: {{url: "sqlite:///bars.db"}}}}
  edges: [[ticks, bars_1m], [bars_1m, store]]
"""


def write_ticks(path: Path, n: int, seed: int = 42) -> None:
    """In-order ticks: exponential gaps around 5 ms, one random walk per symbol, sizes 1 to 1,000."""
    rng = random.Random(seed)
    prices = {sym: 100.0 + 10 * i for i, sym in enumerate(SYMBOLS)}
    ts = 1_700_000_000_000_000_000
    lines = ["symbol,ts,price,size\n"]
    for _ in range(n):
        ts += int(rng.expovariate(1 / 5_000_000))
        sym = rng.choice(SYMBOLS)
        price = prices[sym] = round(max(0.01, prices[sym] + rng.gauss(0, 0.05)), 2)
        lines.append(f"{sym},{ts},{price},{rng.randint(1, 1000)}\n")
    path.write_text("".join(lines), encoding="utf-8")


def mdp_run(config: str, folder: Path, name: str) -> tuple[float, float]:
    """``mdp run`` a config in ``folder``: the job time its summary reports and the wall time."""
    path = folder / f"{name}.yaml"
    path.write_text(config, encoding="utf-8")
    env = dict(os.environ, MDP_CACHE_DIR=str(folder / "cache"))
    started = time.perf_counter()
    done = subprocess.run(
        [shutil.which("mdp") or "mdp", "run", str(path)], cwd=folder, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    found = FINISHED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"mdp run {name} failed:\n{done.stderr}")
    return float(found.group(1)), wall


def median_runs(repeat: int, run) -> tuple[float, ...]:
    """Each value ``run()`` returns (a tuple), as the median over ``repeat`` runs."""
    results = [run() for _ in range(repeat)]
    return tuple(statistics.median(values) for values in zip(*results))


def pandas_run(csv_path: Path) -> tuple[float, float, int]:
    """The pandas script as a command: its own time (read_csv to the last bar), wall time, bars."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PANDAS, str(csv_path)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    bars, seconds = done.stdout.split()
    return float(seconds), wall, int(bars)


def read_in_process(path: Path, fast: bool) -> tuple[float]:
    """Seconds for ``read_ticks`` to read every tick of ``path`` in this process."""
    started = time.perf_counter()
    count = sum(len(chunk[:]) for chunk in read_tick_chunks(str(path), fast=fast))
    assert count > 0
    return (time.perf_counter() - started,)


def rate(n: int, seconds: float) -> str:
    """Millions of ticks per second."""
    return f"{n / seconds / 1e6:5.2f} M ticks/s"


def main() -> None:
    """Write the data, run every measurement, print them side by side."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.ticks, args.repeat
    with tempfile.TemporaryDirectory(prefix="mdp-bench-sources-") as tmp:
        folder = Path(tmp)
        csv_path, gz_path = folder / "ticks.csv", folder / "ticks.csv.gz"
        write_ticks(csv_path, n)
        with open(csv_path, "rb") as plain, gzip.open(gz_path, "wb", compresslevel=6) as packed:
            shutil.copyfileobj(plain, packed)
        print(
            f"{n:,} ticks, {len(SYMBOLS)} symbols; median of {repeat} runs; pyarrow fast path: {FAST_READER}"
        )
        print("job = the time `mdp run` reports; wall = the whole command, start-up included")
        for label, path in (("CSV   ", csv_path), ("CSV.gz", gz_path)):
            job, wall = median_runs(
                repeat, lambda p=path: mdp_run(REPLAY_NULL.format(path=p), folder, "null")
            )
            print(f"(a) replay {label} -> sink.null   : {rate(n, job)}  (job {job:.2f} s, wall {wall:.2f} s)")
        config = SYNTHETIC_NULL.format(symbols=", ".join(SYMBOLS), count=n)
        job, wall = median_runs(repeat, lambda: mdp_run(config, folder, "synthetic"))
        print(f"(b) synthetic -> sink.null         : {rate(n, job)}  (job {job:.2f} s, wall {wall:.2f} s)")
        for label, fast in (("pyarrow        ", True), ("standard library", False)):
            if fast and not FAST_READER:
                continue
            (seconds,) = median_runs(repeat, lambda f=fast: read_in_process(csv_path, f))
            print(f"(c) read_ticks, {label}: {rate(n, seconds)}  ({seconds:.2f} s, in this process)")
        job, wall = median_runs(repeat, lambda: mdp_run(REPLAY_BARS.format(path=csv_path), folder, "bars"))
        own, pandas_wall, bars = median_runs(repeat, lambda: pandas_run(csv_path))
        print(
            f"(d) CSV -> 1m bars: pandas read_csv + resample('1min').ohlc(): {own:.2f} s ({bars:,.0f} bars), "
            f"wall {pandas_wall:.2f} s"
        )
        print(
            f"(d) CSV -> 1m bars -> SQLite: mdp run                         : {job:.2f} s, wall {wall:.2f} s"
        )
        print(f"ratio pandas time / mdp job time : {own / job:5.2f}  (target >= 0.35)")
        print(f"ratio pandas wall / mdp wall     : {pandas_wall / wall:5.2f}")


if __name__ == "__main__":
    main()
