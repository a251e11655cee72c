"""Stateful operators: runtime_lib classes that the generated code instantiates."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from runtime_lib.timeutil import format_duration

from ..expressions import parse_expression
from ..schema import BAR
from .base import Component, Duration, Params
from .keys import key_code


class ResampleParams(Params):
    """Event-time OHLC bars over tumbling windows ``[start, start + window)``, per key."""

    window: Duration = Field(description="bar width: 1s, 1m, 5m, 1h, ...")
    key: str = Field("symbol", description="expression that groups ticks into series")
    allowed_lateness: Duration = Field(0, description="how far behind the newest tick a tick may arrive")
    offset: Duration = Field(0, description="shift of the window grid from the epoch")
    idle_timeout: Duration | None = Field(
        None, description="live sources: also close a window this long after end + allowed_lateness"
    )
    fill: Literal["none", "flat"] = Field("none", description="flat: emit empty windows as flat bars")

    @field_validator("window")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("window must be longer than 0")
        return value


def _resample_kwargs(params: ResampleParams) -> dict:
    return {
        "window_ns": params.window,
        "interval": format_duration(params.window),
        "key": key_code(parse_expression(params.key)),
        "offset_ns": params.offset,
        "allowed_lateness_ns": params.allowed_lateness,
        "idle_timeout_ns": params.idle_timeout,
        "fill": params.fill,
    }


COMPONENTS = (
    Component(
        "operator.resample_ohlc",
        ResampleParams,
        "event-time OHLC bars per key, with watermarks and late-tick counting",
        output=lambda params, upstream: BAR,
        runtime="runtime_lib.operators.resample_ohlc:ResampleOHLC",
        kwargs=_resample_kwargs,
        expressions=lambda params: {("key",): params.key},
        requires=lambda params: [(("type",), name) for name in ("symbol", "ts", "price", "size")],
    ),
)
