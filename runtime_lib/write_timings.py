"""How long a sink's write calls take, as the bucket counts of a Prometheus histogram."""

from __future__ import annotations

from bisect import bisect_left

WRITE_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WriteTimings:
    """Counts write durations into :data:`WRITE_SECONDS_BUCKETS` (upper bounds, in seconds).

    One :meth:`observe` per write call (a batch, not a row); another thread may read
    :meth:`cumulative` at any time, and sees counts at most one write old.

    >>> timings = WriteTimings()
    >>> timings.observe(0.002); timings.observe(0.3); timings.observe(60.0)
    >>> timings.cumulative()[:4], timings.cumulative()[-1], timings.count
    ([('0.0005', 0), ('0.001', 0), ('0.0025', 1), ('0.005', 1)], ('+Inf', 3), 3)
    """

    def __init__(self) -> None:
        self.buckets = [0] * (len(WRITE_SECONDS_BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        """Count one write that took ``seconds``."""
        self.buckets[bisect_left(WRITE_SECONDS_BUCKETS, seconds)] += 1
        self.total_s += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, writes at most that long)`` per bucket, ending with ``+Inf``."""
        running, out = 0, []
        for bound, count in zip((*map(str, WRITE_SECONDS_BUCKETS), "+Inf"), list(self.buckets)):
            running += count
            out.append((bound, running))
        return out
