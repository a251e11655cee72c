"""Benchmark: what checkpoints cost a job, and what one snapshot of 10,000 open keys takes.

(a) ``mdp run`` of a replay of 1,000,000 ticks of 100 symbols -> 1-second ``resample_ohlc`` ->
    ``sink.store`` (SQLite), without checkpoints and with a checkpoint every second (the store
    then commits its rows with each checkpoint), interleaved, median of ``--repeat`` runs each.
    The figure is the job time the summary reports; target: with checkpoints at least 0.90 of
    the throughput without.
(b) A ``resample_ohlc`` holding one open window for each of 10,000 keys: the time to take its
    state, marshal it and write the snapshot file (synced), and the file's size; median of 20.

Run: ``python bench/checkpoint.py [--ticks N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from operator import itemgetter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tick_files import FINISHED, START_NS, write_round_robin_ticks  # noqa: E402
from runtime_lib.operators.resample_ohlc import ResampleOHLC  # noqa: E402
from runtime_lib.snapshot_files import marshalled, write_snapshot  # noqa: E402
from runtime_lib.stats import NodeStats  # noqa: E402

CONFIG = """\
name: {name}
mode: dag
{run}dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: "{path}"}}}}
    - {{id: bars, type: operator.resample_ohlc, params: {{window: 1s}}}}
    - {{id: store, type: sink.store, params: {{url: "sqlite:///{db}"}}}}
  edges: [[ticks, bars], [bars, store]]
"""


def job_seconds(folder: Path, config: str, run_no: int) -> float:
    """The job time of one ``mdp run`` of ``config`` into a fresh database and checkpoint folder."""
    path = folder / f"run{run_no}.yaml"
    path.write_text(config.format(db=folder / f"run{run_no}.db", name=f"run{run_no}"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "run", str(path), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(FINISHED.search(result.stderr).group(1))


def snapshot_of_open_keys(folder: Path, keys: int, repeat: int = 20) -> tuple[float, int]:
    """Median seconds to snapshot and write ``keys`` open windows, and the file's size in bytes."""
    operator = ResampleOHLC(
        "bars", NodeStats("bars", "operator.resample_ohlc"), window_ns=60_000_000_000, interval="1m",
        key=itemgetter("symbol"),
    )  # fmt: skip
    operator.process(
        [{"symbol": f"K{i}", "ts": START_NS + i, "price": 1.0 + i, "size": 1} for i in range(keys)]
    )
    times, size = [], 0
    for n in range(repeat):
        started = time.perf_counter()
        state = marshalled({"nodes": {"bars": operator.state_snapshot()}, "sources": {}, "stats": {}})
        written = write_snapshot(folder, "0" * 16, n + 1, {"job": "bench"}, state)
        times.append(time.perf_counter() - started)
        size = written.path.stat().st_size
    return statistics.median(times), size


def main() -> None:
    """Print (a) and (b) side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mdp-bench-checkpoint-") as name:
        folder = Path(name)
        ticks = folder / "ticks.csv"
        write_round_robin_ticks(ticks, args.ticks, 100, seed=5)
        plain = CONFIG.replace("{path}", str(ticks)).replace("{run}", "")
        checked = CONFIG.replace("{path}", str(ticks)).replace(
            "{run}", f"run:\n  checkpoint: {{{{every: 1s, dir: {folder / 'ck'}}}}}\n"
        )
        without, with_checkpoints = [], []
        for n in range(args.repeat):
            without.append(job_seconds(folder, plain, 2 * n))
            with_checkpoints.append(job_seconds(folder, checked, 2 * n + 1))
        off, on = statistics.median(without), statistics.median(with_checkpoints)
        print(
            f"{args.ticks:,} ticks, 100 symbols -> 1s bars -> SQLite; median of {args.repeat} interleaved runs"
        )
        print(f"(a) no checkpoints          : {args.ticks / off / 1e6:5.2f} M ticks/s  (job {off:.2f} s)")
        print(f"(a) a checkpoint every 1 s  : {args.ticks / on / 1e6:5.2f} M ticks/s  (job {on:.2f} s)")
        print(f"ratio with/without: {off / on:.3f}  (target >= 0.90)")
        seconds, size = snapshot_of_open_keys(folder / "snapshots", 10_000)
        print(
            f"(b) 10,000 open keys: {seconds * 1000:.1f} ms per snapshot (state, marshal, synced file), {size:,} bytes"
        )


if __name__ == "__main__":
    main()
