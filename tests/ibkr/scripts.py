"""Scripted IB market data whose 1-minute bars are known in advance (for end-to-end tests).

Two ways to know the bars, because IB sends no event time with ticks (the client stamps them
on arrival) but does with real-time bars:

- ``trade_burst`` + ``play_trades``: trades sent in ONE socket write get one arrival time, so
  they make exactly one 1-minute bar per symbol; ``expected_bar`` gives it for any ``ts``.
  Call ``wait_clear_of_minute_boundary`` first so the burst cannot straddle a minute.
- ``five_second_bars`` + ``play_bars``: IB's 5-second bars carry the server's time, so their
  1-minute bars (``expected_minute_bars``) are exact, timestamps included.

Prices are multiples of 0.25 and sizes whole numbers, so every sum, product and VWAP is exact
in binary floating point and results can be compared with ``==``.
"""

from __future__ import annotations

import asyncio
import time

MINUTE_NS = 60_000_000_000


def trade_burst(count: int = 20, base: float = 100.0, seed: int = 1) -> list[tuple[float, float]]:
    """Deterministic (price, size) trades: prices on a 0.25 grid around ``base``."""
    trades, state = [], seed
    for _ in range(count):
        state = (state * 1103515245 + 12345) % 2**31
        trades.append((base + (state % 17 - 8) * 0.25, float(100 * (1 + state % 5))))
    return trades


def play_trades(tws, symbol: str, trades) -> None:
    """Send ``trades`` for ``symbol`` in one socket write (one arrival time)."""
    with tws.batched():
        for price, size in trades:
            tws.trade(symbol, price, size)


def ohlc(prices_sizes) -> dict:
    """Open, high, low, close, volume, count and VWAP of (price, size) pairs in order."""
    prices = [p for p, _ in prices_sizes]
    volume = sum(s for _, s in prices_sizes)
    return {
        "open": prices[0],
        "high": max(prices),
        "low": min(prices),
        "close": prices[-1],
        "volume": volume,
        "count": len(prices),
        "vwap": sum(p * s for p, s in prices_sizes) / volume,
    }


def expected_bar(symbol: str, trades, ts_ns: int) -> dict:
    """The 1-minute bar of a burst of ``trades`` that arrived at ``ts_ns``."""
    return {"symbol": symbol, "ts": ts_ns - ts_ns % MINUTE_NS, "interval": "1m", **ohlc(trades)}


async def wait_clear_of_minute_boundary(margin: float = 2.0) -> None:
    """Sleep past the next minute boundary if it is less than ``margin`` seconds away."""
    into_minute = time.time() % 60
    if into_minute > 60 - margin:
        await asyncio.sleep(60 - into_minute + 0.05)


def five_second_bars(start: int, minutes: int = 2, base: float = 100.0) -> list[tuple]:
    """Deterministic 5-second bars from epoch second ``start`` (a multiple of 60).

    Each bar is ``(time, open, high, low, close, volume, wap, count)`` as IB sends it.
    """
    if start % 60:
        raise ValueError("start must be a whole minute (epoch seconds divisible by 60)")
    bars = []
    for i in range(minutes * 12):
        open_ = base + (i % 7) * 0.25
        close = base + ((i * 3) % 7) * 0.25
        high, low = max(open_, close) + 0.5, min(open_, close) - 0.25
        volume = float(100 * (1 + i % 4))
        bars.append((start + 5 * i, open_, high, low, close, volume, (open_ + close) / 2, 1 + i % 3))
    return bars


def play_bars(tws, symbol: str, bars) -> None:
    """Send 5-second bars for ``symbol`` in one socket write."""
    with tws.batched():
        for bar in bars:
            tws.realtime_bar(symbol, *bar)


def expected_minute_bars(symbol: str, bars) -> list[dict]:
    """1-minute bars aggregated from 5-second bars (first open, max high, min low, last close,
    summed volume and count, volume-weighted VWAP), labelled by window start in ns."""
    out: dict[int, list] = {}
    for bar in bars:
        out.setdefault(bar[0] - bar[0] % 60, []).append(bar)
    result = []
    for minute, group in sorted(out.items()):
        volume = sum(b[5] for b in group)
        result.append(
            {
                "symbol": symbol,
                "ts": minute * 1_000_000_000,
                "interval": "1m",
                "open": group[0][1],
                "high": max(b[2] for b in group),
                "low": min(b[3] for b in group),
                "close": group[-1][4],
                "volume": volume,
                "count": sum(b[7] for b in group),
                "vwap": sum(b[6] * b[5] for b in group) / volume,
            }
        )
    return result
