"""Benchmark: a compiled map -> filter -> map chain against a hand-written inlined loop, and
the same chain run live with its metrics endpoint on and off.

Part 1: both run in this process on the same 1,000,000 pre-generated tick dicts; the compiled
pipeline runs through the generated module's ``run_local``. Prints both throughputs (median
of several runs) and their ratio; the target is a ratio of at least 0.5.

Part 2: the chain as a live job (a synthetic source of ``--ticks`` ticks into ``sink.null``),
run alternately without a metrics port and with one that a thread scrapes every 100 ms (ten
times more often than a usual Prometheus). Prints the median of each; the target is metrics on
within 10 % of metrics off.

    python bench/chain.py [--ticks N] [--repeat K]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from runtime_lib.job import run as run_job  # noqa: E402
from runtime_lib.runner import RunOptions  # noqa: E402
from tests.support.compiled_module import load_compiled  # noqa: E402
from tests.support.jobs import free_port  # noqa: E402

SCRAPE_EVERY_S = 0.1

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


def live_seconds(module, metrics: bool) -> float:
    """Seconds for one live run of ``module``; with ``metrics``, served and scraped every 100 ms."""
    port = free_port() if metrics else None
    done = threading.Event()

    def scrape() -> None:
        while not done.wait(SCRAPE_EVERY_S):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
            except OSError:  # not listening yet, or already closed
                pass

    scraper = threading.Thread(target=scrape, daemon=True)
    if metrics:
        scraper.start()
    started = time.perf_counter()
    status = run_job(module.build, module.JOB_NAME, RunOptions(metrics_port=port), quiet=True)
    elapsed = time.perf_counter() - started
    done.set()
    assert status == 0, "the live chain failed"
    return elapsed


def metrics_overhead(ticks: int, repeat: int) -> None:
    """Print the live chain's throughput with metrics off and on (alternating runs) and their ratio."""
    module = load_compiled(
        CONFIG.replace("symbols: [A]", f"symbols: [A], count: {ticks}"), "bench/chain.yaml"
    )
    off, on = [], []
    for _ in range(repeat):
        off.append(live_seconds(module, metrics=False))
        on.append(live_seconds(module, metrics=True))
    off_s, on_s = statistics.median(off), statistics.median(on)
    print(f"live job, metrics off: {ticks / off_s / 1e6:6.2f} M ticks/s")
    print(
        f"live job, metrics on : {ticks / on_s / 1e6:6.2f} M ticks/s  (scraped every {SCRAPE_EVERY_S * 1000:g} ms)"
    )
    print(f"ratio on/off: {off_s / on_s:.3f}  (target >= 0.90)")


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
    metrics_overhead(args.ticks, args.repeat)


if __name__ == "__main__":
    main()
