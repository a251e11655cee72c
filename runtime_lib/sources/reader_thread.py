"""A source's own daemon thread for blocking reads, so they never block the event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable


class ReaderThread:
    """Runs a source's blocking calls (open, read, parse) one at a time, in order.

    Being a daemon, a call that never returns (opening a FIFO nobody writes to) cannot keep the
    process from exiting, as a thread of the default executor would; and since the loop only
    awaits a future, a stop request still gets through while the call blocks.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    async def call(self, function: Callable[[], object]) -> object:
        """Run ``function()`` in the thread and return (or raise) what it does."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._thread.is_alive():
            self._thread.start()
        self._calls.put((loop, future, function))
        return await future

    def finish(self, function: Callable[[], object]) -> None:
        """Run ``function()`` in the thread after the calls already given, then end the thread.

        Returns at once: a call still blocked delays ``function`` but not the caller.
        """
        if self._thread.is_alive():
            self._calls.put((None, None, function))
            self._calls.put(None)
        else:
            function()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, function = call
            try:
                outcome, failed = function(), False
            except Exception as exc:
                outcome, failed = exc, True
            if loop is None:
                continue
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:  # the loop has closed: nobody waits for the outcome any more
                return


def _settle(future: asyncio.Future, outcome: object, failed: bool) -> None:
    if future.cancelled():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
