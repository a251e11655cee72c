"""A one-line progress display on a terminal while a job runs: records, rate, percent and ETA.

The line is redrawn in place (``\\r``, the text, then clear to the end of the line) every
:data:`REDRAW_INTERVAL_S` seconds by a daemon thread, which reads only integers the run keeps
up to date: each source's ``stats.events_out`` and :meth:`~runtime_lib.sources.base.Source.progress`.
When the job stops, the final state (records, the rate over the whole run, the percent when
known) stays on its own line above what the job prints next. A job with a live source (a broker
feed, which never ends) shows no bar.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TextIO

from .sources.base import Source

REDRAW_INTERVAL_S = 0.5
RATE_WINDOW_S = 5.0
"""The rate shown while the job runs is that of about the last this many seconds."""
CLEAR_TO_END = "\x1b[K"
STOP_WAIT_S = 1.0
"""How long :meth:`ProgressBar.stop` waits for a redraw under way (a terminal that does not read)."""


class ProgressBar:
    """Redraw ``  1,234,567 records  612,000/s  45%  ETA 0:03`` on ``stream`` until :meth:`stop`.

    ``sources`` is read afresh on each redraw, so the run may fill it after the bar has started.
    Records are the sum of the sources' ``stats.events_out``. The percent and ETA appear only
    when every source knows its progress; with several sources the least advanced one counts,
    as the job ends when it does. Nothing is drawn until a source is there, and the bar ends
    (clearing what it drew) once a live source is among them. A stream that fails (closed, or a
    terminal gone) ends the bar quietly: nothing is ever raised from its thread.
    """

    def __init__(
        self, sources: Mapping[str, Source], stream: TextIO, interval: float = REDRAW_INTERVAL_S
    ) -> None:
        self._sources = sources
        self._stream = stream
        self._interval = interval
        self._started = 0.0  # time.monotonic() when the bar started
        self._samples: deque[tuple[float, int]] = deque(maxlen=max(2, round(RATE_WINDOW_S / interval) + 1))
        self._drawn = False  # whether a line of the bar is on the terminal now
        self._ended = False  # the bar draws no more: a live source, or the stream failed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._redraw_until_stopped, name="mdp-progress", daemon=True)

    @classmethod
    def start_if_wanted(
        cls, sources: Mapping[str, Source], stream: TextIO | None = None, enabled: bool = True
    ) -> ProgressBar | None:
        """Start a bar on ``stream`` (default: ``sys.stderr``) and return it; return None, with no
        thread started, when ``enabled`` is False or ``stream`` is not a terminal."""
        stream = sys.stderr if stream is None else stream
        if not enabled or not _is_terminal(stream):
            return None
        return cls(sources, stream).start()

    def start(self) -> ProgressBar:
        """Start redrawing; return the bar."""
        self._started = time.monotonic()
        self._samples.append((self._started, 0))
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop redrawing and leave the final state on its own line; safe to call twice.

        Nothing is drawn when the bar never had a source to show or has ended; a redraw still
        blocked on the stream after :data:`STOP_WAIT_S` is left to its daemon thread.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT_S)
            if self._thread.is_alive():
                return
        self._redraw(final=True)

    def _redraw_until_stopped(self) -> None:
        while not self._stopping.wait(self._interval) and not self._ended:
            self._redraw(final=False)

    def _redraw(self, final: bool) -> None:
        """Draw the line now (``final``: the state at the end, and a newline after it)."""
        if self._ended:
            return
        try:
            sources = list(self._sources.values())
            if any(source.live for source in sources):
                self._ended = True
                if self._drawn:
                    self._write("\r" + CLEAR_TO_END)
                return
            if not sources:
                return
            self._write("\r" + self._line(sources, final) + CLEAR_TO_END + ("\n" if final else ""))
            self._drawn = not final
        except Exception:  # a closed stream or a terminal gone: the bar just ends
            self._ended = True

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _line(self, sources: list[Source], final: bool) -> str:
        """The text of the bar for ``sources`` now."""
        now = time.monotonic()
        records = sum(source.stats.events_out for source in sources)
        if final:
            since, before = self._started, 0
        else:
            since, before = self._samples[0]
            self._samples.append((now, records))
        rate = (records - before) / (now - since) if now > since else 0.0
        parts = [f"  {records:,} records", f"{rate:,.0f}/s"]
        fraction = _fraction_done(sources)
        if fraction is not None:
            parts.append(f"{int(fraction * 100)}%")
            if not final and fraction > 0:
                parts.append("ETA " + _clock((now - self._started) * (1 - fraction) / fraction))
        return "  ".join(parts)


def _fraction_done(sources: list[Source]) -> float | None:
    """The least fraction done among ``sources`` (0..1), or None when one of them does not know."""
    fractions = []
    for source in sources:
        progress = source.progress()
        if progress is None:
            return None
        done, total = progress
        fractions.append(min(done / total, 1.0) if total > 0 else 1.0)
    return min(fractions)


def _clock(seconds: float) -> str:
    """``seconds`` as ``m:ss``, or ``h:mm:ss`` from an hour on.

    >>> _clock(3.4), _clock(754), _clock(3 * 3600 + 61)
    ('0:03', '12:34', '3:01:01')
    """
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` writes to a terminal (False for a closed stream or one with no ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
