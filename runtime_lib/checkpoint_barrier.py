"""A checkpoint's barrier: the mark each sink worker gets in its queue when a snapshot is taken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class Barrier:
    """Checkpoint ``id``, passing through the queues of the sinks ``sink_ids``.

    A worker that reaches it has written everything submitted before the snapshot; it waits for
    ``durable`` (True once the snapshot file is on disk, False if it could not be written), then
    commits and calls :meth:`committed`. ``done`` is set when every sink has committed.
    """

    def __init__(self, checkpoint_id: int, sink_ids: Iterable[str]) -> None:
        self.id = checkpoint_id
        self.durable: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting = set(sink_ids)
        self.done = asyncio.Event()
        if not self._waiting:
            self.done.set()

    def committed(self, sink_id: str) -> None:
        """Note that sink ``sink_id`` has committed this checkpoint."""
        self._waiting.discard(sink_id)
        if not self._waiting:
            self.done.set()

    def waiting_for(self) -> list[str]:
        """The sinks that have not committed this checkpoint yet, sorted."""
        return sorted(self._waiting)
