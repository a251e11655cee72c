"""Whether a running job is ready (``/readyz``): its sources connected, its sinks writing.

Read from the endpoint's thread while the job runs; everything read is a plain attribute that
the job's thread sets, so no lock is needed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import LiveContext

STUCK_WRITE_S = 30.0  # a write that has not returned after this long makes the job not ready


def not_ready_reasons(ctx: LiveContext, stuck_write_s: float = STUCK_WRITE_S) -> list[str]:
    """Why the job on ``ctx`` is not ready, in words; empty when it is.

    Not ready: before its sources have started and once it is stopping, while a source says
    it is not connected (a live feed reconnecting), while a sink retries a failed write, and
    while a sink's write has not returned for ``stuck_write_s`` seconds (a store that stopped
    answering).
    """
    if ctx.phase != "running":
        return [f"the job is {ctx.phase}"]
    reasons = []
    for node_id, source in tuple(ctx.running.items()):
        reason = source.readiness()
        if reason:
            reasons.append(f"source {node_id!r}: {reason}")
    now = time.monotonic()
    for node_id, worker in tuple(ctx.workers.items()):
        if worker.retrying:
            reasons.append(f"sink {node_id!r}: retrying a failed write ({worker.retrying})")
            continue
        started = worker.write_started
        if started is not None and now - started >= stuck_write_s:
            where = f" ({worker.sink.target})" if worker.sink.target else ""
            reasons.append(f"sink {node_id!r}{where}: a write has not returned after {now - started:.0f} s")
    return reasons
