"""One daemon thread that runs blocking calls one at a time, in order, for the event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable


class CallThread:
    """Runs a node's blocking calls (a sink's writes, a replay's reads) in its own daemon thread.

    Being a daemon, a call that never returns (a write to a pipe nobody reads, opening a FIFO
    nobody writes to) cannot keep the process from exiting, as a thread of the default executor
    would; and since the loop only awaits a future, a stop request still gets through while the
    call blocks.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    async def call(self, function: Callable, *args: object) -> object:
        """Run ``function(*args)`` in the thread and return (or raise) what it does."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._thread.is_alive():
            self._thread.start()
        self._calls.put((loop, future, function, args))
        return await future

    def finish(self, function: Callable[[], object] | None = None) -> None:
        """End the thread once the calls already given have run, running ``function()`` last.

        Returns at once: a call still blocked delays ``function`` but not the caller. When the
        thread never started, ``function`` runs here.
        """
        if self._thread.is_alive():
            if function is not None:
                self._calls.put((None, None, function, ()))
            self._calls.put(None)
        elif function is not None:
            function()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, function, args = call
            try:
                outcome, failed = function(*args), False
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
