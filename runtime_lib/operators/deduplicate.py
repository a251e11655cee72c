"""Drop repeated records: a key emitted less than ``ttl`` earlier in event time suppresses repeats.

Each key keeps a *reference*: the newest event time (``ts``) among its emitted records. The
*horizon* is the newest event time seen on the stream so far, the current record included. A
reference is *live* while it is newer than ``horizon - ttl``. A record is a duplicate, dropped
and counted in ``stats.dropped``, when its key has a live reference and ``|ts - reference| <
ttl``; otherwise it is emitted, and its ``ts`` becomes the key's reference if it is newer.

Out-of-order records are compared with the reference on both sides: a record up to ``ttl``
*older* than its key's reference is a duplicate too. A record more than ``ttl`` behind the
horizon may find its key's reference expired and then is emitted: deduplication covers repeats
that arrive within ``ttl`` of the newest event time, so choose ``ttl`` at least as large as the
disorder of the feed. For an in-order stream the rule is exactly "dropped when the same key was
emitted less than ``ttl`` earlier".

Expired references never decide anything, so removing them changes no result. They are swept
out whenever the horizon has advanced by ``ttl`` since the previous sweep, which keeps the
state to the keys emitted within the last ``2 * ttl`` of event time on an endless stream.

A checkpoint saves the references, the horizon and where the last sweep was: all event time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ..stats import NodeStats
from .base import Operator

_NO_TIME = -(1 << 80)  # below any nanosecond timestamp


class Deduplicate(Operator):
    """Emit a record unless the same key was emitted less than ``ttl_ns`` away in event time.

    >>> from operator import itemgetter
    >>> op = Deduplicate("dedupe", NodeStats("dedupe", "operator.deduplicate"),
    ...                  key=itemgetter("id"), ttl_ns=10)
    >>> [r["ts"] for r in op.process([{"id": 1, "ts": 0}, {"id": 1, "ts": 9}, {"id": 1, "ts": 10}])]
    [0, 10]
    >>> op.stats.dropped
    1
    """

    def __init__(
        self, node_id: str, stats: NodeStats, *, key: Callable[[dict], Hashable], ttl_ns: int
    ) -> None:
        super().__init__(node_id, stats)
        if ttl_ns <= 0:
            raise ValueError(f"{node_id}: ttl must be positive, got {ttl_ns} ns")
        self.key = key
        self.ttl_ns = ttl_ns
        self._refs: dict[Hashable, int] = {}  # key -> newest emitted event time
        self._horizon = _NO_TIME  # newest event time seen
        self._swept_at = _NO_TIME  # horizon at the last sweep

    @property
    def state_size(self) -> int:
        """How many keys hold a reference right now (expired ones included until swept)."""
        return len(self._refs)

    def process(self, batch: list[dict]) -> list[dict]:
        """Return the records of ``batch`` that are not duplicates, in arrival order.

        A record whose key fails, or whose ``ts`` is missing or does not compare with a number,
        is set aside and counted in ``stats.errors``; the batch goes on.
        """
        out: list[dict] = []
        append = out.append
        refs = self._refs
        get_ref = refs.get
        ttl = self.ttl_ns
        horizon = self._horizon
        errors = self.stats.errors
        records, keys = self._keyed(batch, self.key)
        pairs = zip(records, keys)
        r = None
        while True:
            try:
                for r, k in pairs:
                    ts = r["ts"]
                    ref = get_ref(k)  # raises for an unhashable key, before any change
                    if ts > horizon:
                        horizon = ts
                    if ref is not None and ref > horizon - ttl and -ttl < ts - ref < ttl:
                        continue  # a live reference within ttl: a duplicate
                    append(r)
                    if (ref is None or ts > ref) and ts > horizon - ttl:
                        refs[k] = ts
                break
            except Exception as exc:
                self._failed(r, exc)
        self._horizon = horizon
        if horizon - self._swept_at >= ttl:
            self._sweep()
        self.stats.dropped += len(batch) - len(out) - (self.stats.errors - errors)
        self.stats.add(len(batch), len(out))
        return out

    def _sweep(self) -> None:
        """Forget every expired reference (one that is ``ttl`` or more behind the horizon)."""
        oldest_live = self._horizon - self.ttl_ns
        self._refs = {k: ts for k, ts in self._refs.items() if ts > oldest_live}
        self._swept_at = self._horizon

    def state_snapshot(self) -> dict:
        """The references (key -> event time), the horizon and the horizon at the last sweep.

        The live dict of references is shared, not copied: marshal the result before the
        operator runs on.
        """
        return self._state(refs=self._refs, horizon=self._horizon, swept_at=self._swept_at)

    def restore_state(self, state: dict) -> None:
        """Take a :meth:`state_snapshot` (after a marshal round trip) on a fresh operator."""
        self._check_state(state)
        self._refs = state["refs"]
        self._horizon = state["horizon"]
        self._swept_at = state["swept_at"]

    def state_summary(self) -> dict:
        """``keys`` holding a reference (expired ones until swept) and ``horizon_ts``, the newest
        event time seen (None before any record)."""
        horizon = None if self._horizon == _NO_TIME else self._horizon
        return {"keys": len(self._refs), "horizon_ts": horizon}
