"""When what a source read may be acknowledged: once the job's sinks have written what it became.

A source that can acknowledge what it read (a Redis stream consumer group) has two methods:
``batch_token(taken)`` returns what names the first ``taken`` records of the batch it yielded
last (None: nothing to acknowledge), and ``async acknowledge(tokens)`` acknowledges a list of
such tokens. The runner calls :meth:`Acknowledgements.pushed` right after pushing each batch.

The rule. Pushing a batch is synchronous: when the push returns, every record the batch gave
rise to has been handed to a sink worker, unless a stateful operator still holds some of it.
So a batch gets a *mark*, every sink worker's count of rows submitted so far
(``stats.events_in``), as soon as no stateful operator holds records: at once when it is
pushed, or later when they have released everything (a timer or a later push emptied them),
or when they are flushed at the end of the run. A marked batch is acknowledged once every
worker's count of rows written (``stats.events_out``, which grows when a write has returned,
and so a store has committed it) has reached its mark. The counts cover every source and
sink of the job, which only makes the rule wait longer, never shorter.

Which operators hold records: a deduplicate never does (it emits or drops each record at
once; its state is references); a buffer or throttle does while its ``pending`` count is above
0; every other one (the windows of resample_ohlc and window, a plugin function) is taken to
hold records until it is flushed. Behind such an operator entries are therefore acknowledged
only at the end of the run, after the final flush and the sinks' drain; until then they stay
pending in Redis, and a restart delivers them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .sinks.base import describe_error

log = logging.getLogger("mdp.job")
ACK_INTERVAL_S = 0.1


def holds_records(operator: object) -> bool:
    """Whether a stateful operator may hold records it was given and has not released yet."""
    from .operators.buffer import Buffer
    from .operators.deduplicate import Deduplicate
    from .operators.throttle import Throttle

    if isinstance(operator, Deduplicate):
        return False
    if isinstance(operator, (Buffer, Throttle)):
        return operator.pending > 0
    return True


@dataclass
class _Batch:
    """A pushed batch: its source, its token, and its mark once it has one."""

    source_id: str
    token: object
    mark: tuple[int, ...] | None = None


class Acknowledgements:
    """Tracks the pushed batches of acknowledging sources and acknowledges them by the module's rule.

    ``workers`` are the job's sink workers (each with ``stats.events_in`` and ``events_out``),
    ``operators`` its stateful operators (``(node_id, operator)`` pairs).
    """

    def __init__(self, workers: Iterable, operators: Iterable[tuple[str, object]]) -> None:
        self._counters = [worker.stats for worker in workers]
        self._operators = [operator for _node_id, operator in operators]
        self._sources: dict[str, object] = {}
        self._batches: deque[_Batch] = deque()  # in push order: marked ones first, then unmarked
        self._flushed = False
        self._failing = ""  # the acknowledgement error being waited out ("" when none)

    @property
    def waiting(self) -> int:
        """How many pushed batches are not acknowledged yet."""
        return len(self._batches)

    def pushed(self, source_id: str, source: object, taken: int) -> None:
        """Note that the first ``taken`` records of the batch ``source`` yielded last were pushed."""
        batch_token = getattr(source, "batch_token", None)
        token = batch_token(taken) if batch_token is not None else None
        if token is None:
            return
        self._sources[source_id] = source
        self._batches.append(_Batch(source_id, token))
        self._mark()

    def _mark(self) -> None:
        """Give every unmarked batch the current mark, unless an operator still holds records."""
        if not self._batches or self._batches[-1].mark is not None:
            return
        if not self._flushed and any(holds_records(operator) for operator in self._operators):
            return
        mark = tuple(stats.events_in for stats in self._counters)
        for batch in reversed(self._batches):
            if batch.mark is not None:
                break
            batch.mark = mark

    def _take_written(self) -> list[_Batch]:
        """Remove and return the batches whose mark every sink has reached."""
        written = tuple(stats.events_out for stats in self._counters)
        ready = []
        while self._batches and self._batches[0].mark is not None:
            if any(done < needed for done, needed in zip(written, self._batches[0].mark)):
                break
            ready.append(self._batches.popleft())
        return ready

    async def settle(self) -> None:
        """Acknowledge every batch that is written; batches whose acknowledgement fails (or is
        cancelled) are kept, to be acknowledged later."""
        self._mark()
        ready = self._take_written()
        by_source: dict[str, list[_Batch]] = {}
        for batch in ready:
            by_source.setdefault(batch.source_id, []).append(batch)
        confirmed: set[str] = set()
        try:
            for source_id, batches in by_source.items():
                try:
                    await self._sources[source_id].acknowledge([batch.token for batch in batches])
                except Exception as exc:
                    if not self._failing:
                        log.warning("provider %r: cannot acknowledge what it read yet: %s; trying again",
                                    source_id, describe_error(exc))  # fmt: skip
                    self._failing = describe_error(exc)
                    continue
                confirmed.add(source_id)
        finally:
            kept = [batch for batch in ready if batch.source_id not in confirmed]
            self._batches.extendleft(reversed(kept))
        if self._failing and confirmed and not kept:
            log.info("acknowledging what the sources read again")
            self._failing = ""

    async def run(self) -> None:
        """Acknowledge written batches every :data:`ACK_INTERVAL_S` until cancelled."""
        while True:
            await asyncio.sleep(ACK_INTERVAL_S)
            await self.settle()

    async def finish(self, flushed: bool) -> None:
        """End of the run, after the sinks have drained and closed: acknowledge what was written
        (everything, when the operators were ``flushed`` and no write failed), say what stays
        pending, and close the acknowledging sources again (acknowledging may have reconnected)."""
        self._flushed = flushed
        await self.settle()
        left: dict[str, int] = {}
        for batch in self._batches:
            left[batch.source_id] = left.get(batch.source_id, 0) + 1
        for source_id, count in left.items():
            why = self._failing or "what they became was not all written"
            log.warning("provider %r: %d batches read stay pending (not acknowledged: %s); "
                        "they will be delivered again", source_id, count, why)  # fmt: skip
        for source in self._sources.values():
            await source.close()
