"""Limit the record rate with a token bucket, in processing time; drop or delay the excess.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens per second; it starts full. A
record passes when its bucket has a whole token, and takes it. With ``key`` every key has its
own bucket; without, one bucket serves the whole stream.

The excess is never lost silently. ``on_excess="drop"`` drops it and counts it in
``stats.dropped``. ``on_excess="delay"`` holds it: each key's held records form a queue that
later records of that key join (a key's records never overtake each other), released as its
bucket refills, by the next :meth:`Throttle.process` or :meth:`Throttle.on_timer`, and all at
:meth:`Throttle.flush`. Records released together keep their arrival order. At most
``max_pending`` records are held; beyond that the oldest are dropped and counted.

Time is the operator's ``clock`` (default ``time.monotonic_ns``, which wall-clock steps do not
move), read once per call. ``on_timer(now_ns)`` is a prompt to look at that clock: the runner's
wall-clock ``now_ns`` is not mixed with monotonic readings. Token arithmetic is exact: a token
is ``10**9 * q`` credits for a rate of ``p/q`` tokens per second, and a bucket gains ``p``
credits per nanosecond.

Buckets that have refilled to ``burst`` are the same as new ones and are forgotten, so keyed
state stays bounded by the keys seen within the time one bucket takes to refill.

**Checkpoints.** A snapshot holds every bucket's credits and how long ago, by the operator's
clock, it was last refilled; the held records with their arrival order; and the sequence
counter. A restored operator's clock is another process's, so every such age is rebased on it:
processing time stands still from the snapshot to the restore. A bucket therefore gains no
tokens for the time the job was down, and goes on refilling from the credits it had; held
records are released in the order they would have been, none lost.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from fractions import Fraction

from ..stats import NodeStats
from ..timeutil import NS_PER_SECOND
from .base import Operator

ON_EXCESS = ("drop", "delay")
DEFAULT_MAX_PENDING = 100_000
_CREDITS = 0  # bucket list: credits held
_AT = 1  # bucket list: clock reading of the last refill


class Throttle(Operator):
    """Pass at most ``rate`` records per second (bursts up to ``burst``) per bucket.

    >>> clock = iter([0, NS_PER_SECOND // 2]).__next__
    >>> op = Throttle("slow", NodeStats("slow", "operator.throttle"), rate=2, burst=2, clock=clock)
    >>> len(op.process([{"n": i} for i in range(5)]))
    2
    >>> op.stats.dropped
    3
    >>> len(op.process([{"n": 5}, {"n": 6}]))  # half a second later: one token has come back
    1
    """

    processing_time = True

    def __init__(
        self,
        node_id: str,
        stats: NodeStats,
        *,
        rate: float,
        burst: int | None = None,
        key: Callable[[dict], Hashable] | None = None,
        on_excess: str = "drop",
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(node_id, stats)
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"{node_id}: rate must be a positive number, got {rate!r}")
        if burst is None:
            burst = math.ceil(rate)
        if burst < 1:
            raise ValueError(f"{node_id}: burst must be at least 1, got {burst}")
        if on_excess not in ON_EXCESS:
            raise ValueError(f"{node_id}: unknown on_excess {on_excess!r} (known: {', '.join(ON_EXCESS)})")
        if max_pending < 1:
            raise ValueError(f"{node_id}: max_pending must be at least 1, got {max_pending}")
        per_ns, scale = Fraction(str(rate)).as_integer_ratio()
        self.rate = rate
        self.burst = burst
        self.key = key
        self.delay = on_excess == "delay"
        self.max_pending = max_pending
        self.clock = clock
        self._per_ns = per_ns  # credits gained per nanosecond
        self._cost = NS_PER_SECOND * scale  # credits per token (per record)
        self._capacity = burst * self._cost
        self._refill_ns = -(-self._capacity // per_ns)  # time to refill an empty bucket
        self._buckets: dict[Hashable, list[int]] = {}
        self._held: dict[Hashable, deque[tuple[int, dict]]] = {}  # key -> (seq, record), FIFO
        self._order: deque[tuple[int, Hashable]] = deque()  # (seq, key) of held records, by seq
        self._held_count = 0
        self._seq = 0
        self._now = -(1 << 80)
        self._swept_at = 0

    @property
    def pending(self) -> int:
        """How many records are held (``on_excess="delay"``)."""
        return self._held_count

    @property
    def bucket_count(self) -> int:
        """How many buckets are kept (full buckets are forgotten now and then)."""
        return len(self._buckets)

    def _read_clock(self) -> int:
        """The clock, never going backwards between calls."""
        now = self.clock()
        if now > self._now:
            self._now = now
        return self._now

    def _take(self, k: Hashable, now: int) -> bool:
        """Take a token from ``k``'s bucket (refilled to ``now``) if it holds a whole one."""
        bucket = self._buckets.get(k)
        if bucket is None:
            bucket = self._buckets[k] = [self._capacity, now]
        elif bucket[_AT] != now:
            credits = bucket[_CREDITS] + (now - bucket[_AT]) * self._per_ns
            bucket[_CREDITS] = credits if credits < self._capacity else self._capacity
            bucket[_AT] = now
        if bucket[_CREDITS] >= self._cost:
            bucket[_CREDITS] -= self._cost
            return True
        return False

    def process(self, batch: list[dict]) -> list[dict]:
        """Return the records that have tokens now: held ones first, then those of ``batch``.

        A record whose key fails is set aside and counted in ``stats.errors``; the batch goes on.
        """
        now = self._read_clock()
        out = self._release(now) if self._held_count else []
        key, take, held = self.key, self._take, self._held
        records = iter(batch)
        r = None
        while True:
            try:  # a record whose key fails (or is unhashable) raises before any change
                for r in records:
                    k = key(r) if key is not None else None
                    if self.delay and k in held:
                        self._hold(k, r)
                    elif take(k, now):
                        out.append(r)
                    elif self.delay:
                        self._hold(k, r)
                    else:
                        self.stats.dropped += 1
                break
            except Exception as exc:
                self._failed(r, exc)
        if self._held_count > self.max_pending:
            self._drop_oldest(self._held_count - self.max_pending)
        self._forget_full_buckets(now)
        self.stats.add(len(batch), len(out))
        return out

    def on_timer(self, now_ns: int) -> list[dict]:
        """Release held records whose buckets have refilled by the operator's clock."""
        now = self._read_clock()
        out = self._release(now) if self._held_count else []
        self._forget_full_buckets(now)
        self.stats.add(0, len(out))
        return out

    def flush(self) -> list[dict]:
        """End of stream: release every held record, in arrival order, tokens or not."""
        out = [
            r
            for _seq, r in sorted(
                (item for queue in self._held.values() for item in queue), key=lambda item: item[0]
            )
        ]
        self._held.clear()
        self._order.clear()
        self._held_count = 0
        self.stats.add(0, len(out))
        return out

    # -- checkpoints ----------------------------------------------------------------------------

    def _state_params(self) -> dict:
        """What a bucket's credits are measured in, and whether buckets are per key."""
        return {"rate": self.rate, "burst": self.burst, "keyed": self.key is not None}

    def state_snapshot(self) -> dict:
        """The buckets as ``key -> [credits, ns since their last refill]``, the held records per key
        as ``(seq, record)`` in order, the order of all held records and the counters. Clock readings
        are kept as ages from a reading now (negative after the clock went back; see the module
        docstring)."""
        now = self.clock()  # not _read_clock: every reading kept is shifted by the same amount at restore
        return self._state(
            buckets={k: [credits, now - at] for k, (credits, at) in self._buckets.items()},
            held=[(k, list(queue)) for k, queue in self._held.items()],
            order=list(self._order),
            held_count=self._held_count,
            seq=self._seq,
            clock_age_ns=now - self._now,
            swept_age_ns=now - self._swept_at,
        )

    def restore_state(self, state: dict) -> None:
        """Take a :meth:`state_snapshot`, rebasing every age on this operator's clock."""
        self._check_state(state)
        now = self.clock()
        self._buckets = {k: [credits, now - age] for k, (credits, age) in state["buckets"].items()}
        self._held = {k: deque(queue) for k, queue in state["held"]}
        self._order = deque(state["order"])
        self._held_count = state["held_count"]
        self._seq = state["seq"]
        self._now = now - state["clock_age_ns"]
        self._swept_at = now - state["swept_age_ns"]

    def state_summary(self) -> dict:
        """``keys`` (with a key) or ``buckets`` (without: 0 or 1): the buckets kept; ``held_records``."""
        name = "keys" if self.key is not None else "buckets"
        return {name: len(self._buckets), "held_records": self._held_count}

    # -- held records (on_excess="delay") ------------------------------------------------------

    def _hold(self, k: Hashable, r: dict) -> None:
        seq = self._seq
        self._seq += 1
        queue = self._held.get(k)
        if queue is None:
            queue = self._held[k] = deque()
        queue.append((seq, r))
        self._order.append((seq, k))
        self._held_count += 1

    def _release(self, now: int) -> list[dict]:
        """Take held records off the front of each key's queue while its bucket has tokens."""
        released: list[tuple[int, dict]] = []
        emptied = []
        for k, queue in self._held.items():
            while queue and self._take(k, now):
                released.append(queue.popleft())
            if not queue:
                emptied.append(k)
        for k in emptied:
            del self._held[k]
        self._held_count -= len(released)
        self._tidy_order()
        released.sort(key=lambda item: item[0])
        return [r for _seq, r in released]

    def _is_held(self, seq: int, k: Hashable) -> bool:
        queue = self._held.get(k)
        return queue is not None and queue[0][0] == seq

    def _tidy_order(self) -> None:
        """Drop entries of released records from ``_order`` (front first, rebuilt if bloated)."""
        order = self._order
        while order and not self._is_held(*order[0]):
            order.popleft()
        if len(order) > 2 * self._held_count + 1024:
            self._order = deque(sorted((seq, k) for k, queue in self._held.items() for seq, _r in queue))

    def _drop_oldest(self, count: int) -> None:
        """Drop the ``count`` longest-held records (the queue bound) and count them."""
        order = self._order
        while count:
            seq, k = order.popleft()
            if not self._is_held(seq, k):
                continue  # already released
            queue = self._held[k]
            queue.popleft()
            if not queue:
                del self._held[k]
            self._held_count -= 1
            self.stats.dropped += 1
            count -= 1
        self._tidy_order()

    def _forget_full_buckets(self, now: int) -> None:
        """Now and then, forget buckets that have refilled completely (and hold no records)."""
        if self.key is None or now - self._swept_at < self._refill_ns:
            return
        self._swept_at = now
        self._buckets = {
            k: b for k, b in self._buckets.items()
            if k in self._held or b[_CREDITS] + (now - b[_AT]) * self._per_ns < self._capacity
        }  # fmt: skip
