"""Helpers of the checkpoint tests: a hand-set clock, a marshal round trip, a run of an operator over
a script of steps, whole or cut by a snapshot and a restore into a fresh operator, and a read of a
source, whole or cut by a position and a resume in a fresh source."""

from __future__ import annotations

import asyncio
import copy
import marshal
from collections.abc import Callable
from dataclasses import dataclass

from runtime_lib.operators.base import Operator
from runtime_lib.stats import NodeStats

# A step: ("batch", clock reading, records) or ("timer", clock reading, the on_timer argument).
Step = tuple[str, int, object]
COUNTERS = ("events_in", "events_out", "late", "dropped", "errors")


class Clock:
    """A processing-time clock the test sets by hand; ``offset`` is added to every reading (another
    process's monotonic clock)."""

    def __init__(self, offset: int = 0) -> None:
        self.now = 0
        self.offset = offset

    def __call__(self) -> int:
        return self.now + self.offset


def round_trip(state: dict) -> dict:
    """``state`` as a restore gets it back: through ``marshal``, as the checkpoint files hold it."""
    return marshal.loads(marshal.dumps(state))


def counters(stats: NodeStats) -> dict:
    """The counters of ``stats`` that an operator moves, as a plain dict."""
    found = {name: getattr(stats, name) for name in COUNTERS}
    found["set_aside"] = dict(stats.set_aside)
    return found


def added(first: dict, second: dict) -> dict:
    """The counters of two runs of one node, added up (those of the part before the snapshot and after)."""
    total = {name: first[name] + second[name] for name in COUNTERS}
    reasons = set(first["set_aside"]) | set(second["set_aside"])
    total["set_aside"] = {r: first["set_aside"].get(r, 0) + second["set_aside"].get(r, 0) for r in reasons}
    return total


@dataclass
class Run:
    """What an operator released (``("out" | "late", records)`` per call, in order) and its counters."""

    released: list[tuple[str, list[dict]]]
    counters: dict


def apply(op: Operator, clock: Clock, steps: list[Step], released: list, first: int = 0) -> None:
    """Run ``steps`` (numbered from ``first`` in the script) through ``op``, appending what each call
    releases; the late side output is taken after every third step, so some stay collected across
    a snapshot."""
    for number, (kind, now, payload) in enumerate(steps, first):
        clock.now = now
        out = op.process(payload) if kind == "batch" else op.on_timer(payload)
        released.append(("out", out))
        if number % 3 == 2:
            released.append(("late", op.take_side("late")))


def finish(op: Operator, released: list) -> None:
    """End of stream: what ``flush`` releases, then the late side output."""
    released.append(("out", op.flush()))
    released.append(("late", op.take_side("late")))


def whole_run(build: Callable[[Clock], Operator], steps: list[Step]) -> Run:
    """The uninterrupted run: every step, then the flush."""
    clock = Clock()
    op = build(clock)
    released: list = []
    apply(op, clock, copy.deepcopy(steps), released)
    finish(op, released)
    return Run(released, counters(op.stats))


def restored_run(
    build: Callable[[Clock], Operator], steps: list[Step], split: int, clock_offset: int = 0
) -> tuple[Run, Run]:
    """The run cut after ``steps[:split]``: a snapshot, a marshal round trip, a fresh operator (whose
    clock reads ``clock_offset`` more) restored from it takes the rest, then the flush.

    Returns the cut run (releases of both operators in order, their counters added up) and the run
    of the operator snapshotted when it simply goes on, which the snapshot must not have changed.
    """
    steps = copy.deepcopy(steps)
    clock = Clock()
    first = build(clock)
    released: list = []
    apply(first, clock, steps[:split], released)
    state = round_trip(first.state_snapshot())
    before = counters(first.stats)
    snapshot_time = clock.now

    went_on = list(released)
    apply(first, clock, copy.deepcopy(steps[split:]), went_on, split)
    finish(first, went_on)

    fresh_clock = Clock(clock_offset)
    fresh_clock.now = snapshot_time
    second = build(fresh_clock)
    second.restore_state(state)
    apply(second, fresh_clock, steps[split:], released, split)
    finish(second, released)
    return Run(released, added(before, counters(second.stats))), Run(went_on, counters(first.stats))


def assert_same_as_uninterrupted(build: Callable[[Clock], Operator], steps: list[Step]) -> None:
    """Cutting the run after any step changes neither what each call releases (exactly, floats
    included) nor the counters; nor does taking the snapshot change the operator snapshotted.

    The fresh operator's clock reads far ahead of the first one's, and far behind, in turn.
    """
    whole = whole_run(build, steps)
    for split in range(len(steps) + 1):
        offset = 7_777_777_777 if split % 2 else -7_777_777_777
        cut, went_on = restored_run(build, steps, split, clock_offset=offset)
        assert cut.released == whole.released, f"cut after step {split}"
        assert cut.counters == whole.counters, f"cut after step {split}"
        assert went_on.released == whole.released, f"snapshot after step {split}"
        assert went_on.counters == whole.counters, f"snapshot after step {split}"


# -- sources -----------------------------------------------------------------------------------

READ_TIMEOUT_S = 10


async def take_batches(source, count: int | None = None) -> tuple[list[list[dict]], object, dict]:
    """The first ``count`` batches of a run of ``source`` (all of them when None), its position just
    after them and its set-aside counters then; the source is closed afterwards."""
    batches = source.batches()
    taken: list[list[dict]] = []
    try:
        while count is None or len(taken) < count:
            try:
                taken.append(await asyncio.wait_for(batches.__anext__(), READ_TIMEOUT_S))
            except StopAsyncIteration:
                break
        return taken, source.position(), dict(source.stats.set_aside)
    finally:
        await batches.aclose()
        await source.close()


def resumed_read(
    build: Callable[[int], object], first: int, split: int, then: int
) -> tuple[list[dict], dict]:
    """Read ``split`` batches of ``first`` records from ``build(first)``, take its position, then read
    everything after it from a fresh ``build(then)`` resumed there: all the records and the
    set-aside counters of both runs, added up."""
    taken, position, counted = asyncio.run(take_batches(build(first), split))
    fresh = build(then)
    fresh.resume_at(round_trip(position))
    rest, _, more = asyncio.run(take_batches(fresh))
    reasons = set(counted) | set(more)
    total = {reason: counted.get(reason, 0) + more.get(reason, 0) for reason in reasons}
    return [r for batch in taken + rest for r in batch], total


def whole_read(source) -> tuple[list[dict], dict]:
    """Every record of an uninterrupted run of ``source``, and its set-aside counters."""
    taken, _, counted = asyncio.run(take_batches(source))
    return [r for batch in taken for r in batch], counted
