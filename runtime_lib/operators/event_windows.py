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
itself (``st[K_MAX_TS] <= ts < st[K_CUR_END]`` with an int ``ts``: set ``st[K_MAX_TS] = ts``,
add the record, and call :meth:`EventTimeWindows._close` once ``ts >= st[K_CLOSE_AT]``) and
pass every other record to :meth:`EventTimeWindows._add_slow`.

**Jumps** (``max_jump``, default one day). A record more than ``max_jump`` ahead of its
*reference* is *held* until the key's next record, so that one mistyped timestamp cannot make
the rest of its key's stream late. The reference is the later of the key's newest event time
and the newest window start of any key (for a key's first record, the latter; the operator's
very first record is never held). So when every key crosses a weekend, only records that cross
it before any key has confirmed it are held. When the key's next record comes:

* if it confirms the jump (``ts >= held ts - allowed_lateness``: it would not be late after
  the held record), the held record goes on, then the next one is taken as usual (a further
  jump from the held record is held in turn); a weekend or holiday gap therefore passes;
* otherwise the held record is set aside as an outlier (``stats.set_aside_one``, logged with
  the key, its ts and the jump), the watermark does not move, and the next record is taken as
  usual against it (it may be held in turn).

A key holds at most one record. End of stream releases held records before the windows flush;
processing-time timers (``idle_timeout``) do not release them. ``max_jump=None`` turns this off.
The fast path is unchanged: a record that stays inside its key's current window cannot jump
when ``window <= max_jump``; for a wider window the bound the hot loops compare with is the
smaller of the window's end and ``max ts + max_jump + 1``.

A record whose ``ts`` is not an int, or that a window cannot take, raises in the slow path
before any state changes; the subclass's loop sets it aside (:meth:`Operator._failed`).

**Checkpoints** save every key's state list as it is (watermark, open windows with their
accumulators, the watermark floor, a held record, the subclass's slots), the records held for
a jump, the newest window start and the late records not yet handed over; everything is event
time, so a restored operator goes on exactly as the one saved, whatever the clock says.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ..stats import NodeStats
from ..timeutil import NS_PER_SECOND, format_duration, format_timestamp
from .base import Operator

# Per-key state.
K_MAX_TS = 0  # largest event time seen for the key
K_CUR_END = 1  # bound of the hot loops' fast path: end of the current window, or NO_END
K_CLOSE_AT = 2  # smallest open window end + allowed lateness, or NEVER
K_CUR = 3  # the window holding K_MAX_TS, or None once closed
K_OPEN = 4  # open windows: start -> accumulator (includes the current one)
K_FLOOR = 5  # watermark floor: end of the last window closed by timer or flush
K_HELD = 6  # a record held for jumping ahead (see the module docstring), or None
K_HELD_TS = 7  # its event time
K_EXTRA = 8  # first index a subclass may use (see EventTimeWindows.state_extra)

# Integers beyond any nanosecond timestamp, so every comparison stays int against int.
NEVER = 1 << 80
NO_END = -(1 << 80)
DEFAULT_MAX_JUMP_NS = 86_400 * 1_000_000_000  # one day
OUTLIER = "outlier: event time jumped more than {}"


def window_start(ts: int, window_ns: int, offset_ns: int = 0) -> int:
    """The start of the window ``[start, start + window_ns)`` that holds event time ``ts``.

    >>> window_start(125, 60), window_start(125, 60, 10), window_start(-5, 60)
    (120, 70, -60)
    """
    return ts - (ts - offset_ns) % window_ns


def _duration_text(ns: int) -> str:
    """A duration for a message: exact when short, else to a tenth of its largest unit.

    >>> _duration_text(86_400_000_000_000), _duration_text(3 * 86_400_000_000_000 + 7)
    ('1d', 'about 3.0d')
    """
    exact = format_duration(ns)
    if len(exact) <= 6:
        return exact
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if ns >= size * NS_PER_SECOND:
            return f"about {ns / (size * NS_PER_SECOND):.1f}{unit}"
    return exact


def _when(ts: int) -> str:
    """``ts`` with its UTC time when it has one."""
    try:
        return f"{ts} ({format_timestamp(ts)})"
    except (ValueError, OverflowError, OSError):
        return str(ts)


class EventTimeWindows(Operator):
    """Base of the windowed operators: per-key watermarks, late records, jumps, closing, flushing.

    A subclass provides ``_open_window(start, r, ts)`` (a new accumulator holding record
    ``r``), ``_add_to_window(w, r, ts)`` (add ``r`` to accumulator ``w`` in any arrival order)
    and ``_emit(st, start, w, out)`` (append the output of a closed window to ``out``); the
    first two may be plain functions set per instance and must raise, if at all, before they
    change anything. ``state_extra`` gives the initial values of the subclass's own per-key
    slots, from ``K_EXTRA`` on.
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
        max_jump_ns: int | None = DEFAULT_MAX_JUMP_NS,
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
        if max_jump_ns is not None and max_jump_ns <= 0:
            raise ValueError(f"{node_id}: max_jump must be positive (or None), got {max_jump_ns} ns")
        self.window_ns = window_ns
        self.key = key
        self.offset_ns = offset_ns % window_ns
        self.allowed_lateness_ns = allowed_lateness_ns
        self.idle_timeout_ns = idle_timeout_ns
        self.max_jump_ns = max_jump_ns
        # A window wider than max_jump: the fast path's bound must also stop at max ts + max_jump.
        self._narrow_fast_path = max_jump_ns is not None and max_jump_ns < window_ns
        self._outlier_reason = OUTLIER.format(_duration_text(max_jump_ns)) if max_jump_ns else ""
        # Late records kept for the "late" side output, or None when they are only counted.
        self._late: list[dict] | None = [] if collect_late else None
        # key -> per-key state list; insertion order is first-seen order, which flush follows.
        self._keys: dict[Hashable, list] = {}
        # key -> (record, ts): a key's first record, held because it jumped ahead of every key.
        self._held_first: dict[Hashable, tuple[dict, int]] = {}
        self._newest_start = NO_END  # the newest window start any key has opened

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

        Applies the jump rule, then :meth:`_add`. Returns how many records turned out late.
        Raises, before changing any state, for a ``ts`` that is no int.
        """
        if ts.__class__ is not int:
            raise TypeError(f"ts must be an int of nanoseconds since the epoch, got {ts!r}")
        if st is None:
            if self._held_first:
                held = self._held_first.pop(k, None)
                if held is not None:
                    return self._settle(held[0], held[1], r, ts, k, None, out)
        elif st[K_HELD] is not None:
            held_r, held_ts = st[K_HELD], st[K_HELD_TS]
            st[K_HELD] = st[K_HELD_TS] = None
            self._reset_fast_path(st)
            return self._settle(held_r, held_ts, r, ts, k, st, out)
        jump = self.max_jump_ns
        if jump is not None:
            reference = self._reference(st)
            if reference != NO_END and ts - reference > jump:
                if st is None:
                    self._held_first[k] = (r, ts)
                else:
                    st[K_HELD], st[K_HELD_TS] = r, ts
                    st[K_CUR_END] = NO_END  # the key's next record takes this path
                return 0
        return self._add(r, ts, k, st, out)

    def _reference(self, st: list | None) -> int:
        """What a jump is measured from: the key's newest event time or any key's newest window start."""
        if st is None or st[K_MAX_TS] < self._newest_start:
            return self._newest_start
        return st[K_MAX_TS]

    def _settle(
        self, held_r: dict, held_ts: int, r: dict, ts: int, k: Hashable, st: list | None, out: list[dict]
    ) -> int:
        """The key's next record ``r`` after the held ``held_r``: confirm or set aside, then add ``r``."""
        late = 0
        if ts >= held_ts - self.allowed_lateness_ns:
            late = self._release(held_r, held_ts, k, st, out)
        else:
            reference = self._reference(st)
            self.stats.set_aside_one(
                self._outlier_reason,
                f"key {k!r}: ts {_when(held_ts)} is {_duration_text(held_ts - reference)} ahead of "
                f"{_when(reference)}, and the key's next ts {_when(ts)} does not confirm it; "
                f"record: {held_r!r:.300}",
            )
        return late + self._add_slow(r, ts, k, self._keys.get(k), out)

    def _release(self, r: dict, ts: int, k: Hashable, st: list | None, out: list[dict]) -> int:
        """Let a held record go on; set it aside as an error if its window cannot take it."""
        try:
            return self._add(r, ts, k, st, out)
        except Exception as exc:
            self._failed(r, exc)
            return 0

    def _reset_fast_path(self, st: list) -> None:
        """Set the fast path's bound from the current window (after a held record left)."""
        if st[K_CUR] is None:
            st[K_CUR_END] = NO_END
            return
        max_ts = st[K_MAX_TS]
        end = max_ts - (max_ts - self.offset_ns) % self.window_ns + self.window_ns
        if self._narrow_fast_path and max_ts + self.max_jump_ns + 1 < end:
            end = max_ts + self.max_jump_ns + 1
        st[K_CUR_END] = end

    def _add(self, r: dict, ts: int, k: Hashable, st: list | None, out: list[dict]) -> int:
        """Add a record with no jump check. Returns 1 if it is late (kept for the side output)."""
        window = self.window_ns
        start = ts - (ts - self.offset_ns) % window
        if st is None:
            w = self._open_window(start, r, ts)
            self._keys[k] = st = [
                ts, start + window, start + window + self.allowed_lateness_ns, w, {start: w},
                NO_END, None, None, *self.state_extra,
            ]  # fmt: skip
            if start > self._newest_start:
                self._newest_start = start
            if self._narrow_fast_path:
                self._reset_fast_path(st)
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
            if start > self._newest_start:
                self._newest_start = start
        else:
            self._add_to_window(w, r, ts)
        if ts >= st[K_MAX_TS]:
            st[K_MAX_TS] = ts
            st[K_CUR] = w
            if self._narrow_fast_path:
                self._reset_fast_path(st)
            else:
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
        """Emit every open window: keys in first-seen order, each key's windows in start order.

        A key's held record goes on first; keys whose only record was held come last.
        """
        out: list[dict] = []
        late = 0
        for k, (r, ts) in list(self._held_first.items()):
            late += self._release(r, ts, k, None, [])
        self._held_first.clear()
        for k, st in self._keys.items():
            if st[K_HELD] is not None:
                r, ts = st[K_HELD], st[K_HELD_TS]
                st[K_HELD] = st[K_HELD_TS] = None
                self._reset_fast_path(st)
                late += self._release(r, ts, k, st, out)
            if st[K_OPEN]:
                end = self._close(st, NEVER, out)
                if end > st[K_FLOOR]:
                    st[K_FLOOR] = end
        if late:
            self.stats.late += late
        self.stats.add(0, len(out))
        return out

    def take_side(self, port: str) -> list[dict]:
        """Hand over (and forget) the late records collected since the last call (port "late")."""
        if port != "late" or not self._late:
            return []
        late, self._late = self._late, []
        return late

    # -- checkpoints ----------------------------------------------------------------------------

    def _state_params(self) -> dict:
        """Params that place the windows and the watermarks: a state taken with others means nothing here."""
        return {
            "window_ns": self.window_ns, "offset_ns": self.offset_ns,
            "allowed_lateness_ns": self.allowed_lateness_ns, "max_jump_ns": self.max_jump_ns,
        }  # fmt: skip

    def state_snapshot(self) -> dict:
        """The keys in first-seen order with their state lists, the first records held for a jump,
        the newest window start and the late records not yet handed over.

        The live lists are shared, not copied: marshal the result before the operator runs on.
        """
        return self._state(
            keys=list(self._keys),
            states=list(self._keys.values()),
            held_first=[(k, r, ts) for k, (r, ts) in self._held_first.items()],
            newest_start=self._newest_start,
            late=self._late,
        )

    def restore_state(self, state: dict) -> None:
        """Take a :meth:`state_snapshot` (after a marshal round trip) on a fresh operator.

        A key's current window is the open window that holds its largest event time; it is made
        the same object as that window again, as the hot loops expect.
        """
        self._check_state(state)
        window, offset = self.window_ns, self.offset_ns
        states = state["states"]
        for st in states:
            if st[K_CUR] is not None:
                max_ts = st[K_MAX_TS]
                st[K_CUR] = st[K_OPEN][max_ts - (max_ts - offset) % window]
        self._keys = dict(zip(state["keys"], states))
        self._held_first = {k: (r, ts) for k, r, ts in state["held_first"]}
        self._newest_start = state["newest_start"]
        if self._late is not None:
            self._late = state["late"] or []

    def state_summary(self) -> dict:
        """``keys``, ``open_windows``, ``held_records`` (held for a jump) and, with a late side
        output, ``late_records`` not yet handed over."""
        states = self._keys.values()
        summary = {
            "keys": len(self._keys) + len(self._held_first),
            "open_windows": sum(len(st[K_OPEN]) for st in states),
            "held_records": len(self._held_first) + sum(st[K_HELD] is not None for st in states),
        }
        if self._late is not None:
            summary["late_records"] = len(self._late)
        return summary
