"""Benchmark: a compiled 1-minute OHLC pipeline against a hand-written OHLC loop.

Generates 1,000,000 in-order ticks for 10 symbols (random walk, fixed seed, ``ts`` in integer
nanoseconds), then times, in this process on the same data,

  (a) a straightforward Python loop that builds 1-minute bars keyed by (symbol, window start)
      in a dict, and
  (b) the module compiled from a ticks -> resample_ohlc(1m) -> sink config, through its
      ``run_local`` (1,024-record batches, watermarks and late-tick checks included),

checks that both give the same bars and prints both throughputs (median of 3) and (b)/(a).
Target: (b)/(a) >= 0.5.

Run: ``python bench/ohlc.py [n_ticks]``
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from operator import itemgetter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.compiled_module import load_compiled  # noqa: E402

N_TICKS = 1_000_000
SYMBOLS = [f"SYM{i}" for i in range(10)]
WINDOW_NS = 60_000_000_000
BATCH = 1024
RUNS = 3
CONFIG = """
name: ohlc_bench
dag:
  nodes:
    - {id: ticks, type: provider.synthetic, params: {symbols: [A]}}
    - {id: bars_1m, type: operator.resample_ohlc, params: {window: 1m}}
    - {id: out, type: sink.null}
  edges: [[ticks, bars_1m], [bars_1m, out]]
"""


def make_ticks(n: int, seed: int = 42) -> list[dict]:
    """In-order ticks: exponential gaps around 5 ms, one random walk per symbol."""
    rng = random.Random(seed)
    prices = {sym: 100.0 + 10 * i for i, sym in enumerate(SYMBOLS)}
    ts = 1_700_000_000_000_000_000
    ticks = []
    for _ in range(n):
        ts += int(rng.expovariate(1 / 5_000_000))
        sym = rng.choice(SYMBOLS)
        price = prices[sym] = round(max(0.01, prices[sym] + rng.gauss(0, 0.05)), 2)
        ticks.append({"symbol": sym, "ts": ts, "price": price, "size": rng.randint(1, 1000)})
    return ticks


def hand_loop(ticks: list[dict]) -> list[dict]:
    """The plain way: one dict of [open, high, low, close, volume, count, pv] per (symbol, start)."""
    width = WINDOW_NS
    acc: dict[tuple, list] = {}
    get = acc.get
    for r in ticks:
        ts = r["ts"]
        p = r["price"]
        s = r["size"]
        k = (r["symbol"], ts - ts % width)
        b = get(k)
        if b is None:
            acc[k] = [p, p, p, p, s, 1, p * s]
        else:
            if p > b[1]:
                b[1] = p
            elif p < b[2]:
                b[2] = p
            b[3] = p
            b[4] += s
            b[5] += 1
            b[6] += p * s
    return [
        {
            "symbol": sym, "ts": start, "interval": "1m",
            "open": b[0], "high": b[1], "low": b[2], "close": b[3],
            "volume": b[4], "count": b[5], "vwap": b[6] / b[4] if b[4] else None,
        }
        for (sym, start), b in acc.items()
    ]  # fmt: skip


def compiled_run(ticks: list[dict]) -> list[dict]:
    """Run the compiled module on the ticks; return the bars that reached the sink."""
    return MODULE.run_local({"ticks": ticks})["out"]


def timed(fn, ticks: list[dict]) -> tuple[float, list[dict]]:
    """Median throughput in M ticks/s over RUNS runs, and the result of the last run."""
    rates = []
    result: list[dict] = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = fn(ticks)
        rates.append(len(ticks) / (time.perf_counter() - t0) / 1e6)
    return statistics.median(rates), result


def same_bars(a: list[dict], b: list[dict]) -> bool:
    """Whether two bar lists hold the same bars (floats to 1e-12 relative)."""
    order = itemgetter("symbol", "ts")
    a, b = sorted(a, key=order), sorted(b, key=order)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if list(x) != list(y):
            return False
        for field in x:
            if isinstance(x[field], float):
                if not math.isclose(x[field], y[field], rel_tol=1e-12):
                    return False
            elif x[field] != y[field]:
                return False
    return True


MODULE = load_compiled(CONFIG, "bench/ohlc.yaml")


def main() -> None:
    """Generate the ticks, run both, check they agree, print throughputs and the ratio."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N_TICKS
    ticks = make_ticks(n)
    span_s = (ticks[-1]["ts"] - ticks[0]["ts"]) / 1e9
    print(f"{n:,} ticks, {len(SYMBOLS)} symbols, {span_s / 60:.0f} minutes of event time, batch {BATCH}")
    rate_a, bars_a = timed(hand_loop, ticks)
    rate_b, bars_b = timed(compiled_run, ticks)
    if not same_bars(bars_a, bars_b):
        raise SystemExit("MISMATCH: the operator and the hand loop disagree")
    print(f"bars: {len(bars_b):,} (identical in both)")
    print(f"(a) hand-written loop : {rate_a:5.2f} M ticks/s")
    print(f"(b) compiled pipeline : {rate_b:5.2f} M ticks/s")
    print(f"ratio (b)/(a)         : {rate_b / rate_a:5.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
