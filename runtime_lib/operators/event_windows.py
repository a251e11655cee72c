"""Tumbling event-time windows per key: the watermark, lateness and closing rules (ARCHITECTURE.md §4).

Shared by every windowed operator (``resample_ohlc``, ``window``); a subclass supplies only
what a window accumulates and what a closed window emits.

Windows are ``[start, start + window)`` with ``start = ts - (ts - offset) % window`` (epoch
aligned plus an offset), labelled by ``start`` as pandas does with ``closed='left',
label='left'``. Each key keeps its own watermark, ``max ts seen - allowed_lateness``; a record
behind its key's watermark is late (counted in ``stats.late``, never aggregated, and handed to
the ``"late"`` side output when one is configured), and a window is emitted as soon as its
key's watermark reaches the window's end. With an idle timeout, processing time closes a
window too (:meth:`EventTimeWindows.on_timer`); end of stream flushes every open window.

Per-key state is one list (``K_*`` indices): the largest event time seen, the current window
(the one that holds that largest time) and its end, every open window by start, and
``close_at``, the smallest open window end plus the allowed lateness. A window of the key can
close only when an event time reaches ``close_at``, so the close check in a hot loop is one
comparison. A subclass's hot loop may handle an in-order record of the key's current window
itself (``st[K_MAX_TS] <= ts < st[K_CUR_END]``: set ``st[K_MAX_TS] = ts``, add the record, and
call :meth:`EventTimeWindows._close` once ``ts >= st[K_CLOSE_AT]``) and pass every other
record to :meth:`EventTimeWindows._add_slow`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ..stats import NodeStats
from .base import Operator

# Per-key state.
K_MAX_TS = 0  # largest event time seen for the key
K_CUR_END = 1  # end of the current window, or NO_END when it is closed
K_CLOSE_AT = 2  # smallest open window end + allowed lateness, or NEVER
K_CUR = 3  # the window holding K_MAX_TS, or None once closed
K_OPEN = 4  # open windows: start -> accumulator (includes the current one)
K_FLOOR = 5  # watermark floor: end of the last window closed by timer or flush
K_EXTRA = 6  # first index a subclass may use (see EventTimeWindows.state_extra)

# Integers beyond any nanosecond timestamp, so every comparison stays int against int.
NEVER = 1 << 80
NO_END = -(1 << 80)


def window_start(ts: int, window_ns: int, offset_ns: int = 0) -> int:
    """The start of the window ``[start, start + window_ns)`` that holds event time ``ts``.

    >>> window_start(125, 60), window_start(125, 60, 10), window_start(-5, 60)
    (120, 70, -60)
    """
    return ts - (ts - offset_ns) % window_ns


class EventTimeWindows(Operator):
    """Base of the windowed operators: per-key watermarks, late records, closing and flushing.

    A subclass provides ``_open_window(start, r, ts)`` (a new accumulator holding record
    ``r``), ``_add_to_window(w, r, ts)`` (add ``r`` to accumulator ``w`` in any arrival order)
    and ``_emit(st, start, w, out)`` (append the output of a closed window to ``out``); the
    first two may be plain functions set per instance. ``state_extra`` gives the initial values
    of the subclass's own per-key slots, from ``K_EXTRA`` on.
    """

    state_extra: tuple = ()

    def __init__(
        self,
        node_id: str,
        stats: NodeStats,
        *,
        window_ns: int,
        key: Callable[[dict], Hashable],
        offset_ns: int = 0,
        allowed_lateness_ns: int = 0,
        idle_timeout_ns: int | None = None,
        collect_late: bool = False,
    ) -> None:
        super().__init__(node_id, stats)
        if window_ns <= 0:
            raise ValueError(f"{node_id}: window must be positive, got {window_ns} ns")
        if allowed_lateness_ns < 0:
            raise ValueError(
                f"{node_id}: allowed_lateness must not be negative, got {allowed_lateness_ns} ns"
            )
        if idle_timeout_ns is not None and idle_timeout_ns < 0:
            raise ValueError(f"{node_id}: idle_timeout must not be negative, got {idle_timeout_ns} ns")
        self.window_ns = window_ns
        self.key = key
        self.offset_ns = offset_ns % window_ns
        self.allowed_lateness_ns = allowed_lateness_ns
        self.idle_timeout_ns = idle_timeout_ns
        # Late records kept for the "late" side output, or None when they are only counted.
        self._late: list[dict] | None = [] if collect_late else None
        # key -> per-key state list; insertion order is first-seen order, which flush follows.
        self._keys: dict[Hashable, list] = {}

    # -- what a subclass provides ---------------------------------------------------------------

    def _open_window(self, start: int, r: dict, ts: int) -> list:
        """A new accumulator for the window at ``start``, holding record ``r``."""
        raise NotImplementedError

    def _add_to_window(self, w: list, r: dict, ts: int) -> None:
        """Add record ``r`` (event time ``ts``) to accumulator ``w``, in any arrival order."""
        raise NotImplementedError

    def _emit(self, st: list, start: int, w: list, out: list[dict]) -> None:
        """Append what the closed window at ``start`` (accumulator ``w``) emits to ``out``."""
        raise NotImplementedError

    # -- adding records -------------------------------------------------------------------------

    def _add_slow(self, r: dict, ts: int, k: Hashable, st: list | None, out: list[dict]) -> int:
        """Add a record that is not an in-order record of its key's current window.

        Returns 1 if it is late (then it is kept for the side output, if any), else 0.
        """
        window = self.window_ns
        start = ts - (ts - self.offset_ns) % window
        if st is None:
            w = self._open_window(start, r, ts)
            self._keys[k] = [
                ts, start + window, start + window + self.allowed_lateness_ns, w, {start: w},
                NO_END, *self.state_extra,
            ]  # fmt: skip
            return 0
        lateness = self.allowed_lateness_ns
        watermark = st[K_MAX_TS] - lateness
        if st[K_FLOOR] > watermark:
            watermark = st[K_FLOOR]
        if ts < watermark:
            if self._late is not None:
                self._late.append(r)
            return 1
        windows = st[K_OPEN]
        w = windows.get(start)
        if w is None:
            w = windows[start] = self._open_window(start, r, ts)
            if start + window + lateness < st[K_CLOSE_AT]:
                st[K_CLOSE_AT] = start + window + lateness
        else:
            self._add_to_window(w, r, ts)
        if ts >= st[K_MAX_TS]:
            st[K_MAX_TS] = ts
            if w is not st[K_CUR]:
                st[K_CUR] = w
                st[K_CUR_END] = start + window
            if ts >= st[K_CLOSE_AT]:
                self._close(st, ts - lateness, out)
        return 0

    # -- closing windows ------------------------------------------------------------------------

    def _close(self, st: list, watermark: int, out: list[dict]) -> int:
        """Emit the key's open windows that end at or before ``watermark``, in start order.

        Returns the end of the last window closed (or ``NO_END`` when none closed).
        """
        window = self.window_ns
        windows = st[K_OPEN]
        ready = [start for start in windows if start + window <= watermark]
        if not ready:
            return NO_END
        ready.sort()
        cur = st[K_CUR]
        emit = self._emit
        for start in ready:
            w = windows.pop(start)
            if w is cur:
                st[K_CUR] = None
                st[K_CUR_END] = NO_END
            emit(st, start, w, out)
        st[K_CLOSE_AT] = min(windows) + window + self.allowed_lateness_ns if windows else NEVER
        return ready[-1] + window

    def on_timer(self, now_ns: int) -> list[dict]:
        """Close windows whose end + allowed lateness + idle timeout is at or before ``now_ns``.

        Only with an idle timeout. A record that later arrives for a window closed this way is
        late: the key's watermark is raised to that window's end.
        """
        out: list[dict] = []
        idle = self.idle_timeout_ns
        if idle is None:
            return out
        limit = now_ns - idle  # close_at + idle <= now_ns
        watermark = limit - self.allowed_lateness_ns
        for st in self._keys.values():
            if st[K_CLOSE_AT] <= limit:
                end = self._close(st, watermark, out)
                if end > st[K_FLOOR]:
                    st[K_FLOOR] = end
        self.stats.add(0, len(out))
        return out

    def flush(self) -> list[dict]:
        """Emit every open window: keys in first-seen order, each key's windows in start order."""
        out: list[dict] = []
        for st in self._keys.values():
            if st[K_OPEN]:
                end = self._close(st, NEVER, out)
                if end > st[K_FLOOR]:
                    st[K_FLOOR] = end
        self.stats.add(0, len(out))
        return out

    def take_side(self, port: str) -> list[dict]:
        """Hand over (and forget) the late records collected since the last call (port "late")."""
        if port != "late" or not self._late:
            return []
        late, self._late = self._late, []
        return late
