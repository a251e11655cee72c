"""An async generator over the stream of records, run as a stateful operator, deterministically.

The older system wrote custom operators as ``async def f(src, **params): async for item in src:
... yield item``. :class:`AsyncGeneratorOperator` runs such a function without an event loop of
its own: each batch's records are queued on ``src``, and the generator is stepped by hand (with
``send``) until it waits for more input; what it yielded meanwhile is the batch's output. At end
of stream ``src`` is closed, so the generator's ``async for`` ends and it can yield what it
still holds before it returns. The output therefore depends only on the input records, never
on timing or on how the stream was cut into batches, unless the function itself looks at them.

The generator may await only its input. Awaiting anything else (``asyncio.sleep``, a network
call) would need an event loop and make the output depend on time, so it stops the job with an
error naming the node. A generator that raises is finished (Python cannot resume it), so that
stops the job too, naming the node and the last record it took.

A running generator cannot be saved, so a job with such an operator cannot take checkpoints
(``state_saved`` is False and :meth:`AsyncGeneratorOperator.state_snapshot` refuses).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import AsyncGenerator, Callable, Generator

from ..errors import JobError
from ..stats import NodeStats
from .base import Operator, StateNotSaved

MAX_RELEASED = 1_000_000
"""The most records one batch (or the end of the stream) may make a generator yield: more is a
loop that yields without reading its input, which would otherwise never return."""

_WAITING = object()  # what the input's awaitable hands up to the driver: "no record yet"


class GeneratorInput:
    """The ``src`` an async generator iterates: the records queued so far, then the end of stream.

    Awaiting the next record when none is queued suspends the generator with a marker that only
    :class:`AsyncGeneratorOperator` understands, so it knows the generator waits for input.
    """

    def __init__(self) -> None:
        self.queue: deque[dict] = deque()
        self.closed = False
        self.last: object = None  # the record handed out last, for error messages

    def __aiter__(self) -> GeneratorInput:
        return self

    def __anext__(self) -> _NextRecord:
        return _NextRecord(self)


class _NextRecord:
    """The awaitable of one ``__anext__``: the next queued record, or StopAsyncIteration once closed."""

    def __init__(self, source: GeneratorInput) -> None:
        self.source = source

    def __await__(self) -> Generator[object, None, dict]:
        while not self.source.queue:
            if self.source.closed:
                raise StopAsyncIteration
            yield _WAITING
        self.source.last = self.source.queue.popleft()
        return self.source.last


class AsyncGeneratorOperator(Operator):
    """Runs ``function(src, **params)``, an async generator function, over the node's input.

    ``stats`` counts the records in and the records yielded; records the generator never took
    because it returned first are counted as ``dropped``.
    """

    state_saved = False

    def __init__(self, node_id: str, stats: NodeStats, function: Callable, params: dict) -> None:
        super().__init__(node_id, stats)
        self.function = function
        self.params = params
        self.source = GeneratorInput()
        self.generator: AsyncGenerator | None = None
        self.step = None  # the pending ``asend`` awaitable, while the generator waits for input
        self.finished = False

    def _start(self) -> None:
        """Create the generator. No event loop's async-generator hooks see it: this operator
        drives it alone, and an unfinished one is closed (its ``finally`` run) when collected."""
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
        try:
            self.generator = self.function(self.source, **self.params)
            self.step = self.generator.asend(None)
        except Exception as exc:
            raise self._error(f"raised {type(exc).__name__}: {exc} when called") from None
        finally:
            sys.set_asyncgen_hooks(*hooks)

    def _error(self, what: str) -> JobError:
        last = self.source.last
        took = f"; the last record it took: {last!r:.300}" if last is not None else ""
        return JobError(f"async operator {self.node_id!r} {what}{took}")

    def _drive(self) -> list[dict]:
        """Step the generator until it waits for input or returns; the records it yielded."""
        if self.generator is None:
            self._start()
        released: list[dict] = []
        while not self.finished:
            if self.step is None:
                self.step = self.generator.asend(None)
            try:
                awaited = self.step.send(None)
            except StopIteration as yielded:
                self.step = None
                released.append(yielded.value)
                if len(released) > MAX_RELEASED:
                    raise self._error(
                        f"yielded more than {MAX_RELEASED:,} records without waiting for input "
                        "(a loop that yields without reading src?)"
                    ) from None
                continue
            except StopAsyncIteration:
                self.step, self.finished = None, True
                self.stats.dropped += len(self.source.queue)  # records it returned without taking
                self.source.queue.clear()
                break
            except RuntimeError as exc:
                if "no running event loop" in str(exc):  # asyncio.sleep(1) and the like, outside a loop
                    raise self._awaited_other() from None
                raise self._raised(exc) from None
            except Exception as exc:
                raise self._raised(exc) from None
            if awaited is not _WAITING:
                raise self._awaited_other()
            break
        return released

    def _awaited_other(self) -> JobError:
        return self._error(
            "awaited something other than its input; an async operator may only await src "
            "(async for item in src), so that its output does not depend on timing"
        )

    def _raised(self, exc: Exception) -> JobError:
        self.finished = True
        return self._error(
            f"raised {type(exc).__name__}: {exc} (an async generator cannot go on after it raises)"
        )

    def state_snapshot(self) -> dict:
        """Refuse: the state of a running generator (its frame) cannot be saved."""
        raise self._not_saved()

    def restore_state(self, state: dict) -> None:
        """Refuse, as :meth:`state_snapshot` does."""
        raise self._not_saved()

    def _not_saved(self) -> StateNotSaved:
        name = getattr(self.function, "__qualname__", repr(self.function))
        return self._no_saved_state(
            f"it runs the async generator function {name}, and a running Python generator cannot "
            "be saved; run the job without checkpoints"
        )

    def state_summary(self) -> dict:
        """``finished``: whether the generator has returned (what it holds is out of sight)."""
        return {"finished": self.finished}

    def process(self, batch: list[dict]) -> list[dict]:
        """Queue the batch on ``src`` and return what the generator yields before it waits again."""
        if self.finished:
            self.stats.add(len(batch), 0)
            self.stats.dropped += len(batch)
            return []
        self.source.queue.extend(batch)
        released = self._drive()
        self.stats.add(len(batch), len(released))
        return released

    def flush(self) -> list[dict]:
        """End of stream: close ``src`` and return what the generator yields before it returns."""
        self.source.closed = True
        released = self._drive()
        self.stats.add(0, len(released))
        return released
