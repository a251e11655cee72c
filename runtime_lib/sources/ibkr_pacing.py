"""Request pacing: IB disconnects clients that send more than 50 messages per second."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

IB_MAX_REQUESTS_PER_SECOND = 50
_TOLERANCE = 1e-6


class RequestPacer:
    """Allow at most ``limit`` requests in any ``window`` seconds; ``acquire`` waits for a slot.

    Subscribing to many symbols therefore goes out in paced batches of ``limit`` requests.

    >>> import asyncio
    >>> now = [0.0]
    >>> async def sleep(seconds):
    ...     now[0] += seconds
    >>> pacer = RequestPacer(limit=2, window=1.0, clock=lambda: now[0], sleep=sleep)
    >>> async def three():
    ...     for _ in range(3):
    ...         await pacer.acquire()
    >>> asyncio.run(three())
    >>> now[0]
    1.0
    """

    def __init__(
        self,
        limit: int = IB_MAX_REQUESTS_PER_SECOND,
        window: float = 1.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"pacing limit must be at least 1, not {limit}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it as sent."""
        while True:
            now = self._now()
            # The tolerance keeps float rounding (and asyncio waking a timer a hair early)
            # from turning the wait into an endless series of tiny sleeps.
            while self._sent and now - self._sent[0] >= self.window - _TOLERANCE:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return
            await self._sleep(max(self._sent[0] + self.window - now, _TOLERANCE))
