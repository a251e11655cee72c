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

A tick (or bar) the operator cannot take is set aside and counted in ``stats.errors`` (see
:class:`.base.Operator`): its key or a get_* function raises, its ``ts`` is missing or no int,
its price or size is no number. Bars that do not fit the windows at all (an interval that does
not divide the window, a bar straddling two windows) are a wiring mistake and stop the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from numbers import Real
from operator import itemgetter

from ..stats import NodeStats
from ..timeutil import parse_duration_ns
from .event_windows import DEFAULT_MAX_JUMP_NS, K_EXTRA, EventTimeWindows

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


class BarMismatch(ValueError):
    """Bars that do not fit the windows (an interval or offset mismatch): the job stops."""


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
        max_jump_ns: int | None = DEFAULT_MAX_JUMP_NS,
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
            max_jump_ns=max_jump_ns, collect_late=collect_late,
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
        records, keys = self._keyed(batch, self.key)
        return self._process_ticks(records, keys, len(batch))

    def _process_ticks(self, batch: list[dict], keys: list, n_in: int) -> list[dict]:
        """The fast loop over plain ticks, each with its key from ``keys``.

        A tick that raises is set aside (:meth:`Operator._failed`) and the loop goes on after it:
        every step that can raise comes before the first change of state. A ``ts`` that is no
        int leaves the fast path, and the slow path refuses it.
        """
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        close = self._close
        n_late = 0
        ticks = zip(batch, keys)
        r = None
        while True:
            try:
                # Literal indices below (a global constant would cost a lookup per use):
                # st: 0 K_MAX_TS, 1 K_CUR_END, 2 K_CLOSE_AT, 3 K_CUR;
                # w: 3 high, 4 low, 5 close, 6 close_ts, 7 volume, 8 count, 9 price * size.
                for r, k in ticks:
                    ts = r["ts"]
                    st = get_state(k)
                    if st is not None and st[0] <= ts < st[1] and ts.__class__ is int:
                        # In order and inside the key's current window: ts is the new max event
                        # time, so it is the window's close and cannot be its open.
                        w = st[3]
                        p = r["price"]
                        s = r["size"]
                        volume = w[7] + s
                        pv = w[9] + p * s
                        if p > w[3]:
                            w[3] = p
                        elif p < w[4]:
                            w[4] = p
                        st[0] = ts
                        w[5] = p
                        w[6] = ts
                        w[7] = volume
                        w[8] += 1
                        w[9] = pv
                        if ts >= st[2]:  # the watermark reached an older window's end
                            close(st, ts - self.allowed_lateness_ns, out)
                    else:
                        n_late += slow(r, ts, k, st, out)
                break
            except Exception as exc:
                self._failed(r, exc)
        if n_late:
            self.stats.late += n_late
        self.stats.add(n_in, len(out))
        return out

    def _process_read(self, batch: list[dict]) -> list[dict]:
        """Ticks read through get_* functions: copy them into plain ticks, then the fast loop.

        Keys are computed on the records as they came; late ticks go to the side output as
        they came, not as copies. A record that a get_* function or the key fails on is set aside.
        """
        records, keys = self._keyed(batch, self.key)
        get_symbol, get_time, get_price = self._read

        def read(r: dict) -> dict:
            return {"symbol": get_symbol(r), "ts": get_time(r), "price": get_price(r), "size": r["size"]}

        try:
            ticks = list(map(read, records))
        except Exception:
            ticks, kept, kept_keys = [], [], []
            for r, k in zip(records, keys):
                try:
                    ticks.append(read(r))
                except Exception as exc:
                    self._failed(r, exc)
                    continue
                kept.append(r)
                kept_keys.append(k)
            records, keys = kept, kept_keys
        late = self._late
        held = len(late) if late is not None else 0
        out = self._process_ticks(ticks, keys, len(batch))
        if late is not None and len(late) > held:
            original = {id(t): r for t, r in zip(ticks, records)}
            late[held:] = [original.get(id(t), t) for t in late[held:]]
        return out

    def _process_bars(self, batch: list[dict]) -> list[dict]:
        """Aggregate finer bars (each checked to fit inside one window) into these bars.

        A bar that raises is set aside, except one that does not fit this operator's windows
        (:class:`BarMismatch`): that is a wiring mistake and stops the job.
        """
        out: list[dict] = []
        get_state = self._keys.get
        slow = self._add_slow
        check = self._check_bar
        n_late = 0
        records, keys = self._keyed(batch, self.key)
        bars = zip(records, keys)
        b = None
        while True:
            try:
                for b, k in bars:
                    ts = b["ts"]
                    check(b, ts)
                    if b["volume"] or b["count"]:
                        n_late += slow(b, ts, k, get_state(k), out)
                break
            except BarMismatch:
                raise
            except Exception as exc:
                self._failed(b, exc)
        if n_late:
            self.stats.late += n_late
        self.stats.add(len(batch), len(out))
        return out

    def _check_bar(self, b: dict, ts: int) -> None:
        """Raise :class:`BarMismatch` unless bar ``b`` lies wholly inside one of this operator's windows."""
        interval = b["interval"]
        if interval != self._bar_interval:
            width = parse_duration_ns(interval)
            if self.window_ns % width:
                raise BarMismatch(
                    f"{self.node_id}: cannot resample {interval} bars into {self.interval} bars: "
                    f"the window must be a whole multiple of the input interval"
                )
            self._bar_interval, self._bar_interval_ns = interval, width
        if (ts - self.offset_ns) % self.window_ns + self._bar_interval_ns > self.window_ns:
            raise BarMismatch(
                f"{self.node_id}: the {interval} bar at ts {ts} straddles two {self.interval} "
                f"windows: align the offsets of both resamplers"
            )

    # -- checkpoints ----------------------------------------------------------------------------

    def _state_params(self) -> dict:
        """The windows' params, and what the bars are made of and from."""
        return {**super()._state_params(), "interval": self.interval, "fill": self.fill, "input": self.input}

    def state_snapshot(self) -> dict:
        """The windows' state (see :class:`.event_windows.EventTimeWindows`); per key it includes the
        last bar emitted (start, close, symbol), which ``fill="flat"`` fills gaps from. With
        ``input="bars"`` also the interval of the last bar checked."""
        state = super().state_snapshot()
        if self.input == "bars":
            state["bar_interval"] = (self._bar_interval, self._bar_interval_ns)
        return state

    def restore_state(self, state: dict) -> None:
        """Take a :meth:`state_snapshot` (after a marshal round trip) on a fresh operator."""
        super().restore_state(state)
        if self.input == "bars":
            self._bar_interval, self._bar_interval_ns = state["bar_interval"]

    # -- emitting -------------------------------------------------------------------------------

    def _emit(self, st: list, start: int, w: list, out: list[dict]) -> None:
        """Append the bar of the closed window at ``start``, after flat bars for any gap."""
        window = self.window_ns
        interval = self.interval
        last = st[_K_LAST_START]
        if (
            self.fill == "flat"
            and last is not None
            and start - last - window > MAX_FLAT_BARS_PER_GAP * window
        ):
            log.warning(
                "%s: not filling %d empty %s windows of %r before ts %d (more than %d)",
                self.node_id,
                (start - last) // window - 1,
                interval,
                st[_K_LAST_SYMBOL],
                start,
                MAX_FLAT_BARS_PER_GAP,
            )
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


def _number(value: object, name: str) -> object:
    """``value`` if it is a real number (not a bool); else raise TypeError naming the field."""
    if value.__class__ is bool or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return value


def _new_window(start: int, r: dict, ts: int) -> list:
    """A window accumulator opened by tick ``r`` (whose price and size must be numbers)."""
    p = _number(r["price"], "price")
    s = _number(r["size"], "size")
    return [start, p, ts, p, p, p, ts, s, 1, p * s, r["symbol"]]


def _add_tick(w: list, r: dict, ts: int) -> None:
    """Add tick ``r`` to window ``w`` in any arrival order (open/close follow event time).

    Everything that can raise (a missing field, a price that does not compare) comes first.
    """
    p = r["price"]
    s = r["size"]
    volume = w[_W_VOLUME] + s
    pv = w[_W_PV] + p * s
    high = p > w[_W_HIGH]
    low = p < w[_W_LOW]
    if ts < w[_W_OPEN_TS]:  # strict: among equal times the earliest arrival stays the open
        w[_W_OPEN] = p
        w[_W_OPEN_TS] = ts
    if ts >= w[_W_CLOSE_TS]:  # not strict: among equal times the latest arrival is the close
        w[_W_CLOSE] = p
        w[_W_CLOSE_TS] = ts
    if high:
        w[_W_HIGH] = p
    elif low:
        w[_W_LOW] = p
    w[_W_VOLUME] = volume
    w[_W_COUNT] += 1
    w[_W_PV] = pv


def _new_bar_window(start: int, b: dict, ts: int) -> list:
    """A window accumulator opened by bar ``b`` (event time ``ts``, the bar's start)."""
    volume = _number(b["volume"], "volume")
    vwap = b["vwap"]
    high, low = _number(b["high"], "high"), _number(b["low"], "low")
    open_, close = _number(b["open"], "open"), _number(b["close"], "close")
    return [
        start, open_, ts, high, low, close, ts,
        volume, _number(b["count"], "count"), _number(vwap, "vwap") * volume if volume else 0, b["symbol"],
    ]  # fmt: skip


def _add_bar(w: list, b: dict, ts: int) -> None:
    """Add bar ``b`` to window ``w`` in any arrival order (open/close follow the bars' ts).

    Everything that can raise (a missing field, values that do not compare or add) comes first.
    """
    open_, high, low, close = b["open"], b["high"], b["low"], b["close"]
    volume = b["volume"]
    total = w[_W_VOLUME] + volume
    count = w[_W_COUNT] + b["count"]
    pv = w[_W_PV] + b["vwap"] * volume if volume else w[_W_PV]
    higher = high > w[_W_HIGH]
    lower = low < w[_W_LOW]
    if ts < w[_W_OPEN_TS]:
        w[_W_OPEN] = open_
        w[_W_OPEN_TS] = ts
    if ts >= w[_W_CLOSE_TS]:
        w[_W_CLOSE] = close
        w[_W_CLOSE_TS] = ts
    if higher:
        w[_W_HIGH] = high
    if lower:
        w[_W_LOW] = low
    w[_W_VOLUME] = total
    w[_W_COUNT] = count
    w[_W_PV] = pv
