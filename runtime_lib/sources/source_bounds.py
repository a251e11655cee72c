"""The bounds of the sources' pacing and event-time params, checked by the compiler and the runtime.

Kept apart from the sources themselves so that checking a config imports neither asyncio nor
the synthetic stream's tables.
"""

from __future__ import annotations

import math

from ..timeutil import DEFAULT_TS_RANGE_NS, NS_PER_SECOND

DEFAULT_START_TS = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z, a US market open
DEFAULT_STEP_NS = 1_000_000  # 1 ms of event time per tick when unpaced
MIN_RATE = 0.001  # ticks per second: one tick every 1000 s
MAX_RATE = 1e9  # one tick per nanosecond of event time
TS_END = DEFAULT_TS_RANGE_NS[1]
MIN_SPEED = 0.001
MAX_SPEED = 1_000_000.0


def check_speed(speed: float) -> float:
    """Return ``speed`` if it is 0 (unpaced) or a finite number in ``MIN_SPEED..MAX_SPEED``.

    A tinier speed turns a second of event time into days of waiting.
    """
    if speed != 0 and not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise ValueError(
            f"speed must be 0 (unpaced) or between {MIN_SPEED:g} and {MAX_SPEED:.0f}, got {speed}"
        )
    return speed


def check_rate(rate: float) -> float:
    """Return ``rate`` if it is 0 (unpaced) or a finite number in ``MIN_RATE..MAX_RATE``."""
    if rate != 0 and not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise ValueError(f"rate must be 0 (unpaced) or between {MIN_RATE:g} and {MAX_RATE:.0f}, got {rate}")
    return rate


def event_step_ns(rate: float) -> int:
    """Event time between ticks: ``1 / rate`` seconds, or 1 ms when unpaced (``rate`` 0).

    >>> event_step_ns(0), event_step_ns(1000.0)
    (1000000, 1000000)
    """
    return max(1, round(NS_PER_SECOND / rate)) if rate > 0 else DEFAULT_STEP_NS


def ticks_before_end(start_ts: int, step: int) -> int:
    """How many ticks from ``start_ts``, ``step`` ns apart, have their ``ts`` before 2100-01-01."""
    return max(0, (TS_END - 1 - start_ts) // step + 1)
