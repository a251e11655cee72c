"""Tumbling event-time windows over any key, with aggregations (``operator.window``).

The windowing rules (epoch-aligned windows plus an offset, per-key watermarks on ``ts``, late
records, closing, idle timeout, flush) are those of :mod:`.event_windows`, shared with
``resample_ohlc``; this module adds the aggregations of :mod:`.aggregates` and the output
record: the key field(s), ``ts`` (the window start), ``window_end``, then one field per
aggregation in the configured order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from ..stats import NodeStats
from .aggregates import AGGREGATES, Aggregate
from .event_windows import DEFAULT_MAX_JUMP_NS, EventTimeWindows


class Window(EventTimeWindows):
    """Aggregate the records of each key and tumbling event-time window.

    ``key_fields`` names the output field(s) of the key: one name for any key, or one per
    element of a tuple key. ``aggs`` lists ``(out_field, fn, (value functions...))``.

    >>> from operator import itemgetter
    >>> op = Window("w", NodeStats("w", "operator.window"), window_ns=60, key=itemgetter("symbol"),
    ...             key_fields=("symbol",), aggs=[("n", "count", ()), ("hi", "max", (itemgetter("price"),))])
    >>> op.process([{"symbol": "A", "ts": 5, "price": 10.0}, {"symbol": "A", "ts": 30, "price": 12.0},
    ...             {"symbol": "A", "ts": 61, "price": 11.0}])
    [{'symbol': 'A', 'ts': 0, 'window_end': 60, 'n': 2, 'hi': 12.0}]
    """

    def __init__(
        self,
        node_id: str,
        stats: NodeStats,
        *,
        window_ns: int,
        key: Callable[[dict], Hashable],
        key_fields: Sequence[str],
        aggs: Sequence[tuple[str, str, tuple]],
        offset_ns: int = 0,
        allowed_lateness_ns: int = 0,
        idle_timeout_ns: int | None = None,
        max_jump_ns: int | None = DEFAULT_MAX_JUMP_NS,
        collect_late: bool = False,
    ) -> None:
        super().__init__(
            node_id, stats, window_ns=window_ns, key=key, offset_ns=offset_ns,
            allowed_lateness_ns=allowed_lateness_ns, idle_timeout_ns=idle_timeout_ns,
            max_jump_ns=max_jump_ns, collect_late=collect_late,
        )  # fmt: skip
        if not key_fields:
            raise ValueError(f"{node_id}: key_fields must name at least one field")
        unknown = sorted({fn for _, fn, _ in aggs} - set(AGGREGATES))
        if unknown:
            raise ValueError(
                f"{node_id}: unknown aggregation {unknown[0]!r} (known: {', '.join(AGGREGATES)})"
            )
        self.key_fields = tuple(key_fields)
        self.out_fields = tuple(name for name, _, _ in aggs)
        self._aggs: tuple[Aggregate, ...] = tuple(AGGREGATES[fn](*values) for _, fn, values in aggs)
        self._steps = tuple(agg.step for agg in self._aggs)

    def process(self, batch: list[dict]) -> list[dict]:
        """Aggregate a batch; return the records of the windows it closed.

        A record whose key, ``ts`` or aggregation expression fails is set aside and counted in
        ``stats.errors``; the batch goes on.
        """
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        add = self._add_to_window
        n_late = 0
        records, keys = self._keyed(batch, self.key)
        pairs = zip(records, keys)
        r = None
        while True:
            try:
                # st: 0 K_MAX_TS, 1 K_CUR_END, 2 K_CLOSE_AT, 3 K_CUR (see event_windows).
                for r, k in pairs:
                    ts = r["ts"]
                    st = get_state(k)
                    # In order, in the key's current window, and a plain int ts.
                    if st is not None and st[0] <= ts < st[1] and ts.__class__ is int:
                        add(st[3], r, ts)
                        st[0] = ts
                        if ts >= st[2]:
                            self._close(st, ts - self.allowed_lateness_ns, out)
                    else:
                        n_late += slow(r, ts, k, st, out)
                break
            except Exception as exc:
                self._failed(r, exc)
        if n_late:
            self.stats.late += n_late
        self.stats.add(len(batch), len(out))
        return out

    def _state_params(self) -> dict:
        """The windows' params, and the output fields with their aggregations (the window states' layout)."""
        aggregations = tuple(type(agg).__name__.lower() for agg in self._aggs)
        return {**super()._state_params(), "key_fields": self.key_fields,
                "aggregations": tuple(zip(self.out_fields, aggregations))}  # fmt: skip

    def _open_window(self, start: int, r: dict, ts: int) -> list:
        """``[key of r, [one state per aggregation]]``, with ``r`` added."""
        w = [self.key(r), [agg.start() for agg in self._aggs]]
        self._add_to_window(w, r, ts)
        return w

    def _add_to_window(self, w: list, r: dict, ts: int) -> None:
        """Add ``r`` to every aggregation of window ``w``, or (if one of them raises) to none."""
        states = w[1]
        steps = [step(state, r, ts) for step, state in zip(self._steps, states)]
        for state, new in zip(states, steps):
            if new is not None:
                state[:] = new

    def _emit(self, st: list, start: int, w: list, out: list[dict]) -> None:
        """Append the record of the closed window at ``start``."""
        k = w[0]
        fields = self.key_fields
        record = {fields[0]: k} if len(fields) == 1 else dict(zip(fields, k))
        record["ts"] = start
        record["window_end"] = start + self.window_ns
        for name, agg, state in zip(self.out_fields, self._aggs, w[1]):
            record[name] = agg.result(state)
        out.append(record)
