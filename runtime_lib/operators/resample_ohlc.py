"""Event-time OHLC bars: ticks (or finer bars) in, one bar per key and window out.

The windowing rules (epoch-aligned windows plus an offset, per-key watermarks, late records,
closing, idle timeout, flush) are those of :mod:`.event_windows`; this module adds what a bar
window accumulates and emits.

One list per open window (``_W_*`` indices) holds ``price * size`` summed and the tick count
rather than a running vwap, so a window can absorb whole bars as well as ticks. With
``input="bars"`` a bar contributes its ``open``/``close`` with its own ``ts`` as event time, its
``high``/``low``, ``volume``, ``count`` and ``vwap * volume``, which makes 1m bars resampled to
5m equal 5m bars made from the ticks directly. A bar with neither volume nor trades (a flat
``fill`` bar) carries no trade and is skipped, as the empty minute it stands for would be.

An in-order tick that falls into its key's current window, the common case, costs one dict
lookup and a few list stores in :meth:`ResampleOHLC.process`; everything else (a new window, an
out-of-order or late tick, any bar) goes through the shared slow path. Ticks read through
``get_symbol``/``get_price``/``get_time`` functions (seed-style configs) are first copied into
plain ``{symbol, ts, price, size}`` ticks, so the fast loop itself never changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from operator import itemgetter

from ..stats import NodeStats
from ..timeutil import parse_duration_ns
from .event_windows import K_EXTRA, EventTimeWindows

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

# Per-key slots of this operator, after the shared ones.
_K_LAST_START = K_EXTRA  # start of the last emitted bar, or None
_K_LAST_CLOSE = K_EXTRA + 1  # close of the last emitted bar (for fill="flat")
_K_LAST_SYMBOL = K_EXTRA + 2  # symbol of the last emitted bar (for fill="flat")

# fill="flat" fills a gap of at most this many windows (100,000 one-minute bars is 69 days);
# a longer gap, such as a tick stamped in seconds among nanoseconds, is logged, not filled.
MAX_FLAT_BARS_PER_GAP = 100_000
log = logging.getLogger(__name__)

FILLS = ("none", "flat")
INPUTS = ("ticks", "bars")


class ResampleOHLC(EventTimeWindows):
    """Resample ticks ``{symbol, ts, price, size}`` (or bars) into OHLC bars per key, in event time.

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

    state_extra = (None, None, None)

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
        input: str = "ticks",
        collect_late: bool = False,
        get_symbol: Callable[[dict], object] | None = None,
        get_price: Callable[[dict], object] | None = None,
        get_time: Callable[[dict], int] | None = None,
    ) -> None:
        super().__init__(
            node_id, stats, window_ns=window_ns, key=key, offset_ns=offset_ns,
            allowed_lateness_ns=allowed_lateness_ns, idle_timeout_ns=idle_timeout_ns,
            collect_late=collect_late,
        )  # fmt: skip
        if fill not in FILLS:
            raise ValueError(f"{node_id}: unknown fill {fill!r} (known: {', '.join(FILLS)})")
        if input not in INPUTS:
            raise ValueError(f"{node_id}: unknown input {input!r} (known: {', '.join(INPUTS)})")
        getters = (get_symbol, get_price, get_time)
        if input == "bars" and any(g is not None for g in getters):
            raise ValueError(f"{node_id}: get_symbol, get_price and get_time read ticks, not bars")
        self.interval = interval
        self.fill = fill
        self.input = input
        # How a batch that is not plain ticks is processed (None: the fast loop below).
        self._other: Callable[[list[dict]], list[dict]] | None = None
        if input == "bars":
            self._other = self._process_bars
            self._open_window = _new_bar_window
            self._add_to_window = _add_bar
            self._bar_interval: str | None = None  # interval of the last bar checked
            self._bar_interval_ns = 0
        else:
            self._open_window = _new_window
            self._add_to_window = _add_tick
            if any(g is not None for g in getters):
                self._other = self._process_read
                self._read = (
                    get_symbol or itemgetter("symbol"),
                    get_time or itemgetter("ts"),
                    get_price or itemgetter("price"),
                )

    # -- hot path -------------------------------------------------------------------------------

    def process(self, batch: list[dict]) -> list[dict]:
        """Aggregate a batch of ticks (or bars); return the bars whose windows it closed."""
        if self._other is not None:
            return self._other(batch)
        return self._process_ticks(batch, map(self.key, batch))

    def _process_ticks(self, batch: list[dict], keys) -> list[dict]:
        """The fast loop over plain ticks, each with its key from ``keys``."""
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        close = self._close
        n_late = 0
        # Literal indices below (a global constant would cost a lookup per use):
        # st: 0 K_MAX_TS, 1 K_CUR_END, 2 K_CLOSE_AT, 3 K_CUR;
        # w: 3 high, 4 low, 5 close, 6 close_ts, 7 volume, 8 count, 9 price * size.
        for r, k in zip(batch, keys):
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

    def _process_read(self, batch: list[dict]) -> list[dict]:
        """Ticks read through get_* functions: copy them into plain ticks, then the fast loop.

        Keys are computed on the records as they came; late ticks go to the side output as
        they came, not as copies.
        """
        get_symbol, get_time, get_price = self._read
        ticks = [
            {"symbol": get_symbol(r), "ts": get_time(r), "price": get_price(r), "size": r["size"]}
            for r in batch
        ]
        late = self._late
        held = len(late) if late is not None else 0
        out = self._process_ticks(ticks, map(self.key, batch))
        if late is not None and len(late) > held:
            original = {id(t): r for t, r in zip(ticks, batch)}
            late[held:] = [original[id(t)] for t in late[held:]]
        return out

    def _process_bars(self, batch: list[dict]) -> list[dict]:
        """Aggregate finer bars (each checked to fit inside one window) into these bars."""
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        check = self._check_bar
        n_late = 0
        for b, k in zip(batch, map(self.key, batch)):
            ts = b["ts"]
            check(b, ts)
            if b["volume"] or b["count"]:
                n_late += slow(b, ts, k, get_state(k), out)
        if n_late:
            self.stats.late += n_late
        self.stats.add(len(batch), len(out))
        return out

    def _check_bar(self, b: dict, ts: int) -> None:
        """Raise ValueError unless bar ``b`` lies wholly inside one of this operator's windows."""
        interval = b["interval"]
        if interval != self._bar_interval:
            width = parse_duration_ns(interval)
            if self.window_ns % width:
                raise ValueError(
                    f"{self.node_id}: cannot resample {interval} bars into {self.interval} bars: "
                    f"the window must be a whole multiple of the input interval"
                )
            self._bar_interval, self._bar_interval_ns = interval, width
        if (ts - self.offset_ns) % self.window_ns + self._bar_interval_ns > self.window_ns:
            raise ValueError(
                f"{self.node_id}: the {interval} bar at ts {ts} straddles two {self.interval} "
                f"windows: align the offsets of both resamplers"
            )

    # -- emitting -------------------------------------------------------------------------------

    def _emit(self, st: list, start: int, w: list, out: list[dict]) -> None:
        """Append the bar of the closed window at ``start``, after flat bars for any gap."""
        window = self.window_ns
        interval = self.interval
        last = st[_K_LAST_START]
        if self.fill == "flat" and last is not None and start - last - window > MAX_FLAT_BARS_PER_GAP * window:
            log.warning("%s: not filling %d empty %s windows of %r before ts %d (more than %d)", self.node_id,
                        (start - last) // window - 1, interval, st[_K_LAST_SYMBOL], start, MAX_FLAT_BARS_PER_GAP)
        elif self.fill == "flat" and last is not None and start > last + window:
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


def _new_bar_window(start: int, b: dict, ts: int) -> list:
    """A window accumulator opened by bar ``b`` (event time ``ts``, the bar's start)."""
    volume = b["volume"]
    return [
        start, b["open"], ts, b["high"], b["low"], b["close"], ts,
        volume, b["count"], b["vwap"] * volume if volume else 0, b["symbol"],
    ]  # fmt: skip


def _add_bar(w: list, b: dict, ts: int) -> None:
    """Add bar ``b`` to window ``w`` in any arrival order (open/close follow the bars' ts)."""
    if ts < w[_W_OPEN_TS]:
        w[_W_OPEN] = b["open"]
        w[_W_OPEN_TS] = ts
    if ts >= w[_W_CLOSE_TS]:
        w[_W_CLOSE] = b["close"]
        w[_W_CLOSE_TS] = ts
    if b["high"] > w[_W_HIGH]:
        w[_W_HIGH] = b["high"]
    if b["low"] < w[_W_LOW]:
        w[_W_LOW] = b["low"]
    volume = b["volume"]
    w[_W_VOLUME] += volume
    w[_W_COUNT] += b["count"]
    if volume:
        w[_W_PV] += b["vwap"] * volume
