"""Benchmark: compile time of generated DAGs, a wide fan-out and a long chain, at growing sizes.

The fan-out is a source feeding branches of filter -> resample_ohlc -> sink.null; the chain a
source, filters alternating with maps, resample_ohlc and sink.null (see tests/support/dag_shapes.py).
Each compile runs in a fresh process, so no cache carries over between sizes. Prints the wall
time of each compile (median of several), each stage's share of it, and the growth exponent
between sizes: 1 is linear, and n log n is a little above 1. Targets: 1,000 nodes in under
2 s, 5,000 in under 10 s, growing no faster than n log n.

    python bench/compile.py [--sizes 100 1000 5000] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from compiler.driver import compile_text  # noqa: E402
from tests.support.dag_shapes import chain_yaml, fan_out_yaml  # noqa: E402

SHAPES = {"fan-out": fan_out_yaml, "chain": chain_yaml}
STAGES = ("load", "build", "validate", "optimise", "plan", "emit", "format")
COLUMNS = STAGES + ("other",)
TARGETS_S = {1_000: 2.0, 5_000: 10.0}


def compile_once(shape: str, size: int) -> dict:
    """Compile one generated config here (its modules already imported); its node count, wall
    time and stage timings, in seconds."""
    import compiler.codegen.emit  # noqa: F401  (imported on first use; not part of compiling)

    text = SHAPES[shape](size)
    start = time.perf_counter()
    compiled = compile_text(f"{shape}.yaml", text)
    total = time.perf_counter() - start
    return {"total": total, "nodes": len(yaml.safe_load(text)["dag"]["nodes"]), **compiled.timings}


def measure(shape: str, size: int, repeat: int) -> dict:
    """The median run (by wall time) of ``repeat`` compiles, each in a fresh process."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--one", shape, str(size)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout))
    runs.sort(key=lambda run: run["total"])
    return runs[len(runs) // 2]


def growth(small: tuple[int, float], large: tuple[int, float]) -> str:
    """The exponent k of time ~ nodes**k between two sizes, and what n log n would give."""
    (n1, t1), (n2, t2) = small, large
    k = math.log(t2 / t1) / math.log(n2 / n1)
    n_log_n = 1 + math.log(math.log(n2) / math.log(n1)) / math.log(n2 / n1)
    return f"{k:4.2f} (n log n: {n_log_n:4.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 5_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(compile_once(args.one[0], int(args.one[1]))))
        return 0
    header = f"{'shape':8} {'nodes':>6} {'wall s':>7}  " + " ".join(f"{s:>8}" for s in COLUMNS) + "   growth"
    print(f"median of {args.repeat} compiles, each in a fresh process; stage shares of the wall time")
    print(header)
    missed = []
    for shape in SHAPES:
        previous = None
        for size in args.sizes:
            run = measure(shape, size, args.repeat)
            run["other"] = run["total"] - sum(run.get(stage, 0.0) for stage in STAGES)
            shares = " ".join(f"{100 * run[stage] / run['total']:7.1f}%" for stage in COLUMNS)
            grown = growth(previous, (run["nodes"], run["total"])) if previous else ""
            print(f"{shape:8} {run['nodes']:>6} {run['total']:7.2f}  {shares}   {grown}")
            previous = (run["nodes"], run["total"])
            if size in TARGETS_S and run["total"] >= TARGETS_S[size]:
                missed.append(f"{shape} {size}: {run['total']:.2f} s (target < {TARGETS_S[size]:g} s)")
    targets = ", ".join(f"{size:,} nodes < {limit:g} s" for size, limit in TARGETS_S.items())
    print(f"targets: {targets}: " + ("met" if not missed else "missed: " + "; ".join(missed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
