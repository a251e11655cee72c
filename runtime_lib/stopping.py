"""A job always stops: SIGINT/SIGTERM and ``--duration`` act within a bound, however the job is blocked.

The first SIGINT or SIGTERM, or the end of ``--duration``, asks the run loop to stop (sources stop,
windows flush, sinks drain) and starts a grace period. If the job has not finished when the grace
period ends, or when a second SIGINT/SIGTERM arrives, the process exits at once with a message that
says what was not flushed: status :data:`EXIT_GRACE_EXPIRED` (124), or 128 + the signal number
(130 for SIGINT, 143 for SIGTERM).

Nothing here relies on the event loop, which pipeline code may be blocking. Three paths see a
signal or a deadline, and whichever runs first acts (under one lock, so each signal counts once):

- the Python signal handlers, which run in the main thread between bytecodes, and also inside
  long C computations that check for signals (a huge integer power holds the GIL, so no other
  thread runs until it ends);
- a watchdog thread that waits on the signal wakeup socket (one byte per signal, written by the
  C-level handler) with the next deadline as its timeout: it acts when the main thread is stuck
  in a system call, such as a write to a pipe nobody reads;
- ``SIGALRM``, armed for the next deadline, so the main thread's handlers see the deadline too.

Signals are handled this way only from the main thread (where Python allows signal handlers);
elsewhere, ``--duration`` and the grace period still hold.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable

from .errors import JobError
from .limits import positive_seconds

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_ENV = "MDP_STOP_GRACE_S"
DEFAULT_GRACE_S = 8.0  # under `docker stop`'s 10 s, so the message is printed before a SIGKILL
EXIT_GRACE_EXPIRED = 124  # as timeout(1): the job did not stop in time


_FORCED_EXIT_HOOKS: list[Callable[[int, str], None]] = []


def on_forced_exit(hook: Callable[[int, str], None]) -> Callable[[], None]:
    """Have ``hook(status, why)`` called just before a hard exit (keep it short and never blocking);
    return the function that removes it again."""
    _FORCED_EXIT_HOOKS.append(hook)

    def remove() -> None:
        if hook in _FORCED_EXIT_HOOKS:
            _FORCED_EXIT_HOOKS.remove(hook)

    return remove


def grace_from_env() -> float:
    """The grace period set by ``MDP_STOP_GRACE_S``, else :data:`DEFAULT_GRACE_S`."""
    text = os.environ.get(GRACE_ENV, "").strip()
    if not text:
        return DEFAULT_GRACE_S
    try:
        return positive_seconds(text)
    except ValueError as exc:
        raise JobError(f"{GRACE_ENV}: {exc}") from None


class Watchdog:
    """Turns signals and deadlines into a stop request, then into a hard exit if stopping hangs.

    ``request_stop`` is called (from any thread) once, on the first signal or when ``duration_s``
    has passed; ``unflushed`` says what a hard exit leaves behind. Use it as a context manager
    around the run; leaving it disarms everything and restores the previous signal handlers.
    """

    def __init__(
        self,
        request_stop: Callable[[], None],
        unflushed: Callable[[], str],
        duration_s: float | None,
        grace_s: float,
    ) -> None:
        self.request_stop = request_stop
        self.unflushed = unflushed
        self.duration_s = duration_s
        self.grace_s = grace_s
        self.signals = 0
        self.stopping: str | None = None  # why stopping was requested
        self._deadline: float | None = None
        self._finished = False
        self._lock = threading.RLock()
        self._receive, self._send = socket.socketpair()
        self._receive.setblocking(False)
        self._send.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._receive, selectors.EVENT_READ)
        self._handles_signals = threading.current_thread() is threading.main_thread()
        self._previous: dict[int, object] = {}
        self._previous_wakeup = -1
        self._thread = threading.Thread(target=self._watch, name="mdp-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        if self.duration_s is not None:
            self._deadline = time.monotonic() + self.duration_s
        if self._handles_signals:
            for sig in (*STOP_SIGNALS, signal.SIGALRM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
            self._previous_wakeup = signal.set_wakeup_fd(self._send.fileno(), warn_on_full_buffer=False)
        self._arm()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._finished = True
        self._wake_thread()
        self._thread.join()
        if self._handles_signals:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.set_wakeup_fd(self._previous_wakeup)
            for sig, handler in self._previous.items():
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._selector.close()
        self._receive.close()
        self._send.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        self._drain()

    def _wake_thread(self) -> None:
        """Make the thread look at its state again (a zero byte is no signal)."""
        with contextlib.suppress(OSError):  # a full socket wakes it as well
            self._send.send(b"\0")

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._finished:
                    return
                deadline = self._deadline
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            self._selector.select(timeout)
            self._drain()

    def _drain(self) -> None:
        """Act on every signal byte waiting in the wakeup socket, then on a passed deadline."""
        with self._lock:
            if self._finished:
                return
            while True:
                try:
                    received = self._receive.recv(64)
                except (BlockingIOError, InterruptedError):
                    break
                if not received:
                    break
                for signum in received:
                    if signum in STOP_SIGNALS:
                        self._on_stop_signal(signal.Signals(signum))
            if self._deadline is not None and time.monotonic() >= self._deadline:
                if self.stopping is None:
                    self._request(f"--duration {self.duration_s:g} s")
                else:
                    self._exit(
                        EXIT_GRACE_EXPIRED,
                        f"the job did not stop within {self.grace_s:g} s of {self.stopping} "
                        f"(--stop-grace or {GRACE_ENV} gives it longer)",
                    )

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        if self.signals == 1:
            self._request(sig.name)
        else:
            self._exit(128 + sig, f"a second {sig.name} arrived while the job was stopping")

    def _request(self, reason: str) -> None:
        if self.stopping is not None:
            return
        self.stopping = reason
        self._deadline = time.monotonic() + self.grace_s
        self._arm()
        self._wake_thread()
        self.request_stop()

    def _arm(self) -> None:
        """Let SIGALRM wake the main thread's handlers at the next deadline."""
        if self._handles_signals and self._deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self._deadline - time.monotonic(), 0.001))

    def _exit(self, status: int, why: str) -> None:
        try:
            left = self.unflushed()
        except Exception as exc:  # the report must not keep the process alive
            left = f"(what was pending could not be read: {type(exc).__name__})"
        os.write(2, f"error: {why}; exiting with status {status} without flushing: {left}\n".encode())
        for hook in tuple(_FORCED_EXIT_HOOKS):
            with contextlib.suppress(Exception):  # nothing may keep the process alive now
                hook(status, why)
        os._exit(status)
