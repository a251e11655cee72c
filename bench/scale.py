"""Benchmark: a CPU-bound backfill on 1 and 2 Ray shards against one plain process.

Writes 2,000,000 ticks of 100 symbols (``--ticks``) to a CSV and runs the replay -> 1-minute
``resample_ohlc`` -> ``sink.store`` (SQLite) job three ways, interleaved, median of
``--repeat`` runs each: ``mdp run`` (one process), and ``mdp run --engine ray`` with 1 and with
2 shards on a Ray head started once for the benchmark (so cluster start-up, about 5 s, is not
in the figures; it is printed apart). The figure is the job time the summary reports: from
building the pipeline (plain), or from telling the started shards to run (ray), to the last row
written. Starting the shards (a process each, with the runtime and the module loaded, as the
plain run has them before its clock starts) is printed apart.
Targets: 2 shards at least 1.6x faster than 1 shard; 1 shard within 1.3x of the plain run.

Run: ``python bench/scale.py [--ticks N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tick_files import FINISHED, write_round_robin_ticks  # noqa: E402

MDP = str(Path(sys.executable).parent / "mdp")
RAY = str(Path(sys.executable).parent / "ray")
CONFIG = """\
name: backfill
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: ticks.csv}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1m}}
    - {id: store, type: sink.store, params: {url: "sqlite:///bars.db"}}
  edges: [[ticks, bars], [bars, store]]
"""


STARTED = re.compile(r"the shards took ([0-9.]+) s to start")


def job_seconds(folder: Path, env: dict, *options: str, started: list[float] | None = None) -> float:
    """The job time of one ``mdp run`` of the backfill into a fresh database; a ray run's
    start-up of its shards is added to ``started``."""
    (folder / "bars.db").unlink(missing_ok=True)
    result = subprocess.run(
        [MDP, "run", "backfill.yaml", "--no-progress", *options],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    if started is not None:
        started.append(float(STARTED.search(result.stderr).group(1)))
    return float(FINISHED.search(result.stderr).group(1))


def main() -> None:
    """Print the three medians and the two ratios side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MDP_CACHE_DIR": tempfile.mkdtemp(prefix="mdp-bench-")}
    with tempfile.TemporaryDirectory(prefix="mdp-bench-scale-") as name:
        folder = Path(name)
        write_round_robin_ticks(folder / "ticks.csv", args.ticks, 100, seed=9)
        (folder / "backfill.yaml").write_text(CONFIG, encoding="utf-8")
        port = "6391"
        started = time.monotonic()
        subprocess.run(
            [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        head_s = time.monotonic() - started
        address = f"127.0.0.1:{port}"
        try:
            runs: dict[str, list[float]] = {"plain": [], "ray 1": [], "ray 2": []}
            shard_start: list[float] = []
            for _ in range(args.repeat):
                runs["plain"].append(job_seconds(folder, env))
                for shards in (1, 2):
                    ray = ("--engine", "ray", "--shards", str(shards), "--address", address)
                    runs[f"ray {shards}"].append(job_seconds(folder, env, *ray, started=shard_start))
        finally:
            subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)
    plain, one, two = (statistics.median(runs[k]) for k in ("plain", "ray 1", "ray 2"))
    print(f"{args.ticks:,} ticks, 100 symbols -> 1m bars -> SQLite; median of {args.repeat} interleaved runs")
    print(f"one process (streaming)  : {plain:6.2f} s  {args.ticks / plain / 1e6:5.2f} M ticks/s")
    print(f"ray, 1 shard             : {one:6.2f} s  {args.ticks / one / 1e6:5.2f} M ticks/s")
    print(f"ray, 2 shards            : {two:6.2f} s  {args.ticks / two / 1e6:5.2f} M ticks/s")
    print(f"speed-up 2 shards / 1 shard : {one / two:.2f}x  (target >= 1.6)")
    print(f"1 shard / one process       : {one / plain:.2f}x  (target <= 1.3)")
    head, start = f"{head_s:.1f} s", f"{statistics.median(shard_start):.2f} s"
    print(f"(not counted above: starting the Ray head {head}, the shards {start} per run, median)")


if __name__ == "__main__":
    main()
