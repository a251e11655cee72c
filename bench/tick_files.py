"""What the backfill benchmarks share: a CSV of in-order ticks, and the job time ``mdp run`` reports."""

from __future__ import annotations

import random
import re
from pathlib import Path

FINISHED = re.compile(r"job '[^']*' finished in ([0-9.]+) s")
"""The summary line of ``mdp run``: its group is the job time in seconds."""
START_NS = 1_700_000_000_000_000_000


def write_round_robin_ticks(path: Path, count: int, symbols: int, seed: int) -> None:
    """``count`` in-order ticks 1 ms apart, symbols ``S0`` .. ``S<symbols - 1>`` in turn, each a
    random walk of ``seed``, sizes 1 to 7."""
    rng = random.Random(seed)
    prices = [100.0 + i for i in range(symbols)]
    with open(path, "w", encoding="utf-8") as out:
        out.write("symbol,ts,price,size\n")
        for i in range(count):
            k = i % symbols
            prices[k] = round(prices[k] + rng.uniform(-0.05, 0.05), 4)
            out.write(f"S{k},{START_NS + i * 1_000_000},{prices[k]},{1 + i % 7}\n")
