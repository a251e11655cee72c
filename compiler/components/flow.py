"""Flow-control operators: deduplicate (event time), throttle and buffer (processing time).

Each is a runtime_lib class that the generated code instantiates; records pass through
unchanged, so the output schema is the input schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ..expressions import parse_expression
from .base import Component, Duration, PositiveDuration
from .keys import key_code
from .seed_aliases import Older, OlderSpellings

DEDUPE_DEFAULT_KEY = "(symbol, ts, price, size)"
DEFAULT_MAX_PENDING = 100_000
# bounds: beyond them a value is a typo, or makes the operator hold records without limit
MIN_RATE, MAX_RATE = 0.00001, 1e9  # records per second: about one a day, up to one a nanosecond
MAX_BURST = 1_000_000_000
MAX_PENDING = 10_000_000  # records a delaying throttle may hold in memory
MAX_ITEMS = 1_000_000  # records a buffer may hold (and release at once)


def _not_below_min_rate(rate: float) -> float:
    if rate < MIN_RATE:
        raise ValueError(
            f"rate must be at least {MIN_RATE:.5f} records per second (about one a day), got {rate:g}"
        )
    return rate


class DeduplicateParams(OlderSpellings):
    """Drop a record when a record with the same key was emitted less than ``ttl`` away in event time."""

    COMPONENT = "operator.deduplicate"
    OLDER = (Older("key_fn", "key"), Older("ttl", "ttl", seconds=True))

    key: str | None = Field(
        None, description=f"expression for the duplicate key; default {DEDUPE_DEFAULT_KEY}"
    )
    ttl: PositiveDuration = Field(description="how long in event time an emitted key suppresses repeats")

    def key_text(self) -> str:
        """The key expression in force (the default when no key is given)."""
        return self.key if self.key is not None else DEDUPE_DEFAULT_KEY


class ThrottleParams(OlderSpellings):
    """A token bucket in processing time: ``rate`` records per second, bursts up to ``burst``."""

    COMPONENT = "operator.throttle"
    OLDER = (Older("key_fn", "key"),)

    rate: Annotated[float, AfterValidator(_not_below_min_rate)] = Field(
        gt=0, le=MAX_RATE, allow_inf_nan=False, strict=True, description="records per second (per key)"
    )
    burst: int | None = Field(
        None, ge=1, le=MAX_BURST, strict=True, description="bucket size; default: rate rounded up"
    )
    key: str | None = Field(None, description="expression: one bucket per key (default: one for the stream)")
    on_excess: Literal["drop", "delay"] = Field(
        "drop", description="drop (counted) or hold until tokens refill"
    )
    max_pending: int = Field(
        DEFAULT_MAX_PENDING,
        ge=1,
        le=MAX_PENDING,
        strict=True,
        description="delay: most records held; beyond, the oldest are dropped",
    )

    @model_validator(mode="after")
    def _pending_needs_delay(self) -> ThrottleParams:
        if "max_pending" in self.model_fields_set and self.on_excess != "delay":
            raise ValueError("max_pending applies only with on_excess: delay")
        return self

    def burst_size(self) -> int:
        """The bucket size in force: ``burst``, else the rate rounded up."""
        return self.burst if self.burst is not None else math.ceil(self.rate)


class BufferParams(OlderSpellings):
    """Re-batch records: batches of ``max_items``, or fewer once the oldest waited ``max_wait``."""

    COMPONENT = "operator.buffer"
    OLDER = (Older("flush_interval", "max_wait", seconds=True),)

    max_items: int = Field(ge=1, le=MAX_ITEMS, strict=True, description="records per released batch")
    max_wait: Duration = Field(description="processing time the oldest held record may wait (0s: never hold)")


def _dedupe_kwargs(params: DeduplicateParams) -> dict:
    return {"key": key_code(parse_expression(params.key_text())), "ttl_ns": params.ttl}


def _dedupe_requires(params: DeduplicateParams) -> list[tuple[tuple, str]]:
    needed = ["ts"] if params.key is not None else parse_expression(DEDUPE_DEFAULT_KEY).field_names()
    return [(("type",), name) for name in needed]


def _throttle_kwargs(params: ThrottleParams) -> dict:
    return {
        "rate": params.rate,
        "burst": params.burst_size(),
        "key": key_code(parse_expression(params.key)) if params.key is not None else None,
        "on_excess": params.on_excess,
        "max_pending": params.max_pending,
    }


COMPONENTS = (
    Component(
        "operator.deduplicate",
        DeduplicateParams,
        "drop records whose key was emitted less than ttl earlier in event time",
        output=lambda params, upstream: upstream,
        runtime="runtime_lib.operators.deduplicate:Deduplicate",
        state_text="the references of the records it emitted, and its event-time horizon",
        kwargs=_dedupe_kwargs,
        expressions=lambda params: {params.param_path("key"): params.key} if params.key is not None else {},
        requires=_dedupe_requires,
    ),
    Component(
        "operator.throttle",
        ThrottleParams,
        "token-bucket rate limit in processing time; drop or delay the excess",
        output=lambda params, upstream: upstream,
        runtime="runtime_lib.operators.throttle:Throttle",
        state_text="the records it holds back, in order, and its token buckets",
        kwargs=_throttle_kwargs,
        expressions=lambda params: {params.param_path("key"): params.key} if params.key is not None else {},
    ),
    Component(
        "operator.buffer",
        BufferParams,
        "re-batch records: max_items per batch, or fewer after max_wait",
        output=lambda params, upstream: upstream,
        runtime="runtime_lib.operators.buffer:Buffer",
        state_text="the records it holds",
        kwargs=lambda params: {"max_items": params.max_items, "max_wait_ns": params.max_wait},
        batch_limit=lambda params: params.max_items,
    ),
)
