"""Event-time OHLC bars: ticks in, one bar per key and window out (ARCHITECTURE.md §4).

Windows are ``[start, start + window)`` with ``start = ts - (ts - offset) % window`` (epoch
aligned plus an offset) and are labelled by ``start``, as pandas does with ``closed='left',
label='left'``. Each key (usually the symbol) keeps its own watermark, ``max ts seen -
allowed_lateness``; a tick behind its key's watermark is late (counted, not aggregated), and a
window is emitted as soon as its key's watermark reaches the window's end.

State layout, chosen for the hot loop in :meth:`ResampleOHLC.process`:

* one list per key (``_K_*`` indices): the largest event time seen, the current window (the
  one that holds that largest time) and its end, every open window by start, and
  ``close_at``, the smallest open window end plus the allowed lateness. A window of the key
  can close only when an event time reaches ``close_at``, so the close check is one comparison.
* one list per open window (``_W_*`` indices). It holds ``price * size`` summed and the tick
  count rather than a running vwap, so a window can later also absorb whole bars (bars into
  coarser bars): a bar contributes its open/close with its own ``ts`` as event time, its
  high/low, ``volume``, ``count`` and ``vwap * volume``.

An in-order tick that falls into its key's current window, the common case, costs one dict
lookup and a few list stores; everything else (a new window, an out-of-order or late tick)
goes through :meth:`ResampleOHLC._add_slow`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ..stats import NodeStats
from .base import Operator

# Per-window accumulator.
_W_START = 0
_W_OPEN = 1
_W_OPEN_TS = 2
_W_HIGH = 3
_W_LOW = 4
_W_CLOSE = 5
_W_CLOSE_TS = 6
_W_VOLUME = 7
_W_COUNT = 8
_W_PV = 9  # sum of price * size
_W_SYMBOL = 10

# Per-key state.
_K_MAX_TS = 0  # largest event time seen for the key
_K_CUR_END = 1  # end of the current window, or _NO_END when it is closed
_K_CLOSE_AT = 2  # smallest open window end + allowed lateness, or _NEVER
_K_CUR = 3  # the window holding _K_MAX_TS, or None once closed
_K_OPEN = 4  # open windows: start -> window list (includes the current one)
_K_FLOOR = 5  # watermark floor: end of the last window closed by timer or flush
_K_LAST_START = 6  # start of the last emitted bar, or None
_K_LAST_CLOSE = 7  # close of the last emitted bar (for fill="flat")
_K_LAST_SYMBOL = 8  # symbol of the last emitted bar (for fill="flat")

# Integers beyond any nanosecond timestamp, so every comparison stays int against int.
_NEVER = 1 << 80
_NO_END = -(1 << 80)

FILLS = ("none", "flat")


class ResampleOHLC(Operator):
    """Resample ticks ``{symbol, ts, price, size}`` into OHLC bars per key, in event time.

    >>> from operator import itemgetter
    >>> op = ResampleOHLC("bars", NodeStats("bars", "operator.resample_ohlc"),
    ...                   window_ns=60, interval="60ns", key=itemgetter("symbol"))
    >>> op.process([{"symbol": "A", "ts": 5, "price": 10.0, "size": 1},
    ...             {"symbol": "A", "ts": 30, "price": 12.0, "size": 3}])
    []
    >>> [bar] = op.process([{"symbol": "A", "ts": 61, "price": 11.0, "size": 2}])
    >>> bar["ts"], bar["open"], bar["close"], bar["volume"], bar["count"], bar["vwap"]
    (0, 10.0, 12.0, 4, 2, 11.5)
    >>> list(bar)
    ['symbol', 'ts', 'interval', 'open', 'high', 'low', 'close', 'volume', 'count', 'vwap']
    >>> op.flush()[0]["ts"]
    60
    """

    def __init__(
        self,
        node_id: str,
        stats: NodeStats,
        *,
        window_ns: int,
        interval: str,
        key: Callable[[dict], Hashable],
        offset_ns: int = 0,
        allowed_lateness_ns: int = 0,
        idle_timeout_ns: int | None = None,
        fill: str = "none",
    ) -> None:
        super().__init__(node_id, stats)
        if window_ns <= 0:
            raise ValueError(f"{node_id}: window must be positive, got {window_ns} ns")
        if allowed_lateness_ns < 0:
            raise ValueError(
                f"{node_id}: allowed_lateness must not be negative, got {allowed_lateness_ns} ns"
            )
        if idle_timeout_ns is not None and idle_timeout_ns < 0:
            raise ValueError(
                f"{node_id}: idle_timeout must not be negative, got {idle_timeout_ns} ns"
            )
        if fill not in FILLS:
            raise ValueError(f"{node_id}: unknown fill {fill!r} (known: {', '.join(FILLS)})")
        self.window_ns = window_ns
        self.interval = interval
        self.key = key
        self.offset_ns = offset_ns % window_ns
        self.allowed_lateness_ns = allowed_lateness_ns
        self.idle_timeout_ns = idle_timeout_ns
        self.fill = fill
        # key -> per-key state list; insertion order is first-seen order, which flush follows.
        self._keys: dict[Hashable, list] = {}

    # -- hot path -----------------------------------------------------------------------------

    def process(self, batch: list[dict]) -> list[dict]:
        """Aggregate a batch of ticks; return the bars whose windows it closed."""
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        close = self._close
        n_late = 0
        # Literal indices below (a global constant would cost a lookup per use):
        # st: 0 _K_MAX_TS, 1 _K_CUR_END, 2 _K_CLOSE_AT, 3 _K_CUR;
        # w: 3 high, 4 low, 5 close, 6 close_ts, 7 volume, 8 count, 9 price * size.
        for r, k in zip(batch, map(self.key, batch)):
            ts = r["ts"]
            st = get_state(k)
            if st is not None and st[0] <= ts < st[1]:
                # In order and inside the key's current window: ts is the new max event time,
                # so it is the window's close and cannot be its open.
                st[0] = ts
                w = st[3]
                p = r["price"]
                s = r["size"]
                if p > w[3]:
                    w[3] = p
                elif p < w[4]:
                    w[4] = p
                w[5] = p
                w[6] = ts
                w[7] += s
                w[8] += 1
                w[9] += p * s
                if ts >= st[2]:  # the watermark reached an older window's end
                    close(st, ts - self.allowed_lateness_ns, out)
            else:
                n_late += slow(r, ts, k, st, out)
        if n_late:
            self.stats.late += n_late
        self.stats.add(len(batch), len(out))
        return out

    def _add_slow(self, r: dict, ts: int, k: Hashable, st: list | None, out: list[dict]) -> int:
        """Add a tick that is not an in-order tick of its key's current window; return 1 if late."""
        window = self.window_ns
        start = ts - (ts - self.offset_ns) % window
        if st is None:
            w = _new_window(start, r, ts)
            self._keys[k] = [
                ts, start + window, start + window + self.allowed_lateness_ns, w, {start: w},
                _NO_END, None, None, None,
            ]  # fmt: skip
            return 0
        lateness = self.allowed_lateness_ns
        watermark = st[_K_MAX_TS] - lateness
        if st[_K_FLOOR] > watermark:
            watermark = st[_K_FLOOR]
        if ts < watermark:
            return 1
        windows = st[_K_OPEN]
        w = windows.get(start)
        if w is None:
            w = windows[start] = _new_window(start, r, ts)
            if start + window + lateness < st[_K_CLOSE_AT]:
                st[_K_CLOSE_AT] = start + window + lateness
        else:
            _add_tick(w, r, ts)
        if ts >= st[_K_MAX_TS]:
            st[_K_MAX_TS] = ts
            if w is not st[_K_CUR]:
                st[_K_CUR] = w
                st[_K_CUR_END] = start + window
            if ts >= st[_K_CLOSE_AT]:
                self._close(st, ts - lateness, out)
        return 0

    # -- closing windows ----------------------------------------------------------------------

    def _close(self, st: list, watermark: int, out: list[dict]) -> int:
        """Emit the key's open windows that end at or before ``watermark``, in start order.

        Returns the end of the last window closed (or ``_NO_END`` when none closed).
        """
        window = self.window_ns
        windows = st[_K_OPEN]
        ready = [start for start in windows if start + window <= watermark]
        if not ready:
            return _NO_END
        ready.sort()
        interval = self.interval
        fill = self.fill == "flat"
        cur = st[_K_CUR]
        for start in ready:
            w = windows.pop(start)
            if w is cur:
                st[_K_CUR] = None
                st[_K_CUR_END] = _NO_END
            last = st[_K_LAST_START]
            if fill and last is not None and start > last + window:
                price = st[_K_LAST_CLOSE]
                symbol = st[_K_LAST_SYMBOL]
                for gap in range(last + window, start, window):
                    out.append(
                        {
                            "symbol": symbol, "ts": gap, "interval": interval,
                            "open": price, "high": price, "low": price, "close": price,
                            "volume": 0, "count": 0, "vwap": None,
                        }
                    )  # fmt: skip
            volume = w[_W_VOLUME]
            out.append(
                {
                    "symbol": w[_W_SYMBOL], "ts": start, "interval": interval,
                    "open": w[_W_OPEN], "high": w[_W_HIGH], "low": w[_W_LOW], "close": w[_W_CLOSE],
                    "volume": volume, "count": w[_W_COUNT],
                    "vwap": w[_W_PV] / volume if volume else None,
                }
            )  # fmt: skip
            st[_K_LAST_START] = start
            st[_K_LAST_CLOSE] = w[_W_CLOSE]
            st[_K_LAST_SYMBOL] = w[_W_SYMBOL]
        st[_K_CLOSE_AT] = min(windows) + window + self.allowed_lateness_ns if windows else _NEVER
        return ready[-1] + window

    def on_timer(self, now_ns: int) -> list[dict]:
        """Close windows whose end + allowed lateness + idle timeout is at or before ``now_ns``.

        Only with an idle timeout. A tick that later arrives for a window closed this way is
        late: the key's watermark is raised to that window's end.
        """
        out: list[dict] = []
        idle = self.idle_timeout_ns
        if idle is None:
            return out
        limit = now_ns - idle  # close_at + idle <= now_ns
        watermark = limit - self.allowed_lateness_ns
        for st in self._keys.values():
            if st[_K_CLOSE_AT] <= limit:
                end = self._close(st, watermark, out)
                if end > st[_K_FLOOR]:
                    st[_K_FLOOR] = end
        self.stats.add(0, len(out))
        return out

    def flush(self) -> list[dict]:
        """Emit every open window: keys in first-seen order, each key's windows in start order."""
        out: list[dict] = []
        for st in self._keys.values():
            if st[_K_OPEN]:
                end = self._close(st, _NEVER, out)
                if end > st[_K_FLOOR]:
                    st[_K_FLOOR] = end
        self.stats.add(0, len(out))
        return out


def _new_window(start: int, r: dict, ts: int) -> list:
    """A window accumulator opened by tick ``r``."""
    p = r["price"]
    s = r["size"]
    return [start, p, ts, p, p, p, ts, s, 1, p * s, r["symbol"]]


def _add_tick(w: list, r: dict, ts: int) -> None:
    """Add tick ``r`` to window ``w`` in any arrival order (open/close follow event time)."""
    p = r["price"]
    s = r["size"]
    if ts < w[_W_OPEN_TS]:  # strict: among equal times the earliest arrival stays the open
        w[_W_OPEN] = p
        w[_W_OPEN_TS] = ts
    if ts >= w[_W_CLOSE_TS]:  # not strict: among equal times the latest arrival is the close
        w[_W_CLOSE] = p
        w[_W_CLOSE_TS] = ts
    if p > w[_W_HIGH]:
        w[_W_HIGH] = p
    elif p < w[_W_LOW]:
        w[_W_LOW] = p
    w[_W_VOLUME] += s
    w[_W_COUNT] += 1
    w[_W_PV] += p * s
