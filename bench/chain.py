"""Benchmark: a compiled map -> filter -> map chain against a hand-written inlined loop.

Both run in this process on the same 1,000,000 pre-generated tick dicts; the compiled
pipeline runs through the generated module's ``run_local``. Prints both throughputs (median
of several runs) and their ratio; the target is a ratio of at least 0.5.

    python bench/chain.py [--ticks N] [--repeat K]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from tests.support.compiled_module import load_compiled  # noqa: E402

CONFIG = """
name: chain_bench
dag:
  nodes:
    - {id: ticks, type: provider.synthetic, params: {symbols: [A]}}
    - {id: enrich, type: operator.map, params: {fields: {notional: "price * size"}}}
    - {id: big, type: operator.filter, params: {where: "size >= 500"}}
    - {id: project, type: operator.map, params: {select: [symbol, ts, notional]}}
    - {id: out, type: sink.null}
  edges: [[ticks, enrich], [enrich, big], [big, project], [project, out]]
"""


def make_ticks(count: int, seed: int = 7) -> list[dict]:
    """Tick dicts {symbol, ts, price, size} from a seeded random walk over 10 symbols."""
    rng = random.Random(seed)
    symbols = [f"S{i}" for i in range(10)]
    price, ticks = 100.0, []
    for i in range(count):
        price = max(1.0, price + rng.uniform(-0.05, 0.05))
        ticks.append(
            {
                "symbol": symbols[i % 10],
                "ts": 1_700_000_000_000_000_000 + i * 1_000_000,
                "price": round(price, 2),
                "size": rng.randrange(1, 11) * 100,
            }
        )
    return ticks


def hand_written(ticks: list[dict]) -> list[dict]:
    """The same job as one inlined loop, the way a careful engineer writes it by hand."""
    out = []
    append = out.append
    for r in ticks:
        if r["size"] >= 500:
            append({"symbol": r["symbol"], "ts": r["ts"], "notional": r["price"] * r["size"]})
    return out


def best_of(run, repeat: int) -> tuple[float, object]:
    """Median seconds over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    """Run both, check they agree, print throughputs and the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ticks = make_ticks(args.ticks)
    module = load_compiled(CONFIG, "bench/chain.yaml")
    compiled_s, compiled_out = best_of(lambda: module.run_local({"ticks": ticks})["out"], args.repeat)
    hand_s, hand_out = best_of(lambda: hand_written(ticks), args.repeat)
    assert compiled_out == hand_out, "compiled pipeline and hand-written loop disagree"
    ratio = hand_s / compiled_s
    print(f"ticks: {args.ticks:,}  kept: {len(hand_out):,}  (median of {args.repeat} runs)")
    print(f"hand-written loop : {args.ticks / hand_s / 1e6:6.2f} M ticks/s")
    print(f"compiled pipeline : {args.ticks / compiled_s / 1e6:6.2f} M ticks/s")
    print(f"ratio compiled/hand: {ratio:.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
