"""A stateful operator has one output path: what a timer or the end of the stream releases is
split by the batch limit and hands on the side outputs exactly as what a batch releases."""

from __future__ import annotations

from pydantic import Field

from compiler.components import Component, Params
from runtime_lib.operators.base import Operator
from tests.support.batch_context import BatchContext
from tests.support.compiled_module import load_compiled

SECOND = 1_000_000_000
FRIDAY = 1_710_495_000 * SECOND  # 2024-03-15T09:30:00Z


class HoldAll(Operator):
    """Holds every record; a timer or the end of the stream releases them all at once."""

    processing_time = True

    def __init__(self, node_id, stats) -> None:
        super().__init__(node_id, stats)
        self.held: list[dict] = []

    def process(self, batch):
        """Hold the batch; release nothing."""
        self.held += batch
        return []

    def on_timer(self, now_ns):
        """Release everything held."""
        return self.flush()

    def flush(self):
        """Release everything held."""
        released, self.held = self.held, []
        return released


class HoldParams(Params):
    """Params of the test operator."""

    max_batch: int = Field(description="most records per batch downstream")


HOLD = Component(
    "operator.test_hold",
    HoldParams,
    "hold records until a timer or the end of the stream (test plugin)",
    output=lambda params, upstream: upstream,
    runtime="tests.compiler.test_stateful_output:HoldAll",
    kwargs=lambda params: {},
    batch_limit=lambda params: params.max_batch,
)

HOLD_JOB = """\
name: hold
plugins: [tests.compiler.test_stateful_output]
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: unused.csv}}
    - {id: hold, type: "tests.compiler.test_stateful_output:HOLD", params: {max_batch: 4}}
    - {id: out, type: sink.jsonl, params: {path: "-"}}
  edges:
    - [ticks, hold]
    - [hold, out]
"""

LATE_JOB = """\
name: late
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: unused.csv}}
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1m, idle_timeout: 1s, max_jump: 10s, late: late_ticks}
    - {id: store, type: sink.jsonl, params: {path: "-"}}
    - {id: late_ticks, type: sink.jsonl, params: {path: "-"}}
  edges:
    - [ticks, bars]
    - [bars, store]
"""


def tick(ts: int) -> dict:
    return {"symbol": "A", "ts": ts, "price": 1.0, "size": 1}


def test_what_a_timer_and_the_end_of_the_stream_release_is_cut_at_the_batch_limit():
    ctx = BatchContext()
    load_compiled(HOLD_JOB).build(ctx)
    ctx.outputs["ticks"]([tick(FRIDAY + i) for i in range(10)])
    ctx.fire_timers(FRIDAY, live=False)
    ctx.outputs["ticks"]([tick(FRIDAY + i) for i in range(10, 15)])
    ctx.flush_operators()
    assert ctx.batch_sizes["out"] == [4, 4, 2, 4, 1]
    assert [r["ts"] - FRIDAY for r in ctx.collected["out"]] == list(range(15))


def test_a_tick_that_the_end_of_the_stream_finds_late_reaches_the_late_output():
    ctx = BatchContext()
    load_compiled(LATE_JOB).build(ctx)
    # The tick 30 s in jumps more than max_jump ahead of its key, so it is held for the next one.
    held = tick(FRIDAY + 30 * SECOND)
    ctx.outputs["ticks"]([tick(FRIDAY), held])
    # The idle timeout closes the first minute while the tick is held: the tick is late now.
    ctx.fire_timers(FRIDAY + 62 * SECOND, live=True)
    assert [bar["ts"] for bar in ctx.collected["store"]] == [FRIDAY]
    ctx.flush_operators()
    assert ctx.node_stats["bars"].late == 1
    assert ctx.collected["late_ticks"] == [held]
