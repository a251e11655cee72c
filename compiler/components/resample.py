"""operator.resample_ohlc: event-time OHLC bars from ticks, or coarser bars from finer bars."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from runtime_lib.operators.event_windows import DEFAULT_MAX_JUMP_NS
from runtime_lib.timeutil import format_duration

from ..expressions import parse_expression
from ..schema import BAR, BAR_FIELDS, Schema
from ..suggest import did_you_mean
from .base import Component, Duration, Feeder, Port, PositiveDuration, Problem
from .keys import key_code
from .seed_aliases import Older, OlderSpellings, single_field

GETTERS = ("get_symbol", "get_price", "get_time")
READS_BY_DEFAULT = {"get_symbol": "symbol", "get_price": "price", "get_time": "ts"}
"""The tick field each getter stands in for: a getter that reads just that field changes nothing."""
ON_BARS = {
    "get_symbol": "bars are grouped by their symbol (key: groups them by another expression)",
    "get_price": "coarser bars are made from the bars' own open, high, low, close and volume",
    "get_time": "a bar's time is its ts, the start of its window",
}
"""Why each getter has no use when bars are resampled."""
READ_BY_DEFAULT_TEXT = {
    "get_symbol": "each tick's symbol from symbol",
    "get_price": "each tick's price from price",
    "get_time": "each tick's time from ts (integer ns since the epoch)",
}
BAR_MARKERS = ("open", "high", "low", "close", "volume")
"""An input whose schema has all of these fields is taken as bars (unless ``input`` says)."""


def _none_word(value: Any) -> Any:
    """``none`` (any case) means no limit, like YAML's ``null``."""
    return None if isinstance(value, str) and value.strip().lower() == "none" else value


def _longer_than_zero_or_none(value: int | None) -> int | None:
    """A ``max_jump`` of 0 would hold every tick that moves time on: refuse it, and say what turns it off."""
    if value is not None and value <= 0:
        raise ValueError("max_jump must be longer than 0; write none to turn the jump check off")
    return value


MaxJump = Annotated[Duration | None, BeforeValidator(_none_word), AfterValidator(_longer_than_zero_or_none)]
"""``max_jump`` of the event-time operators: a duration longer than 0, or ``none``/``null`` (off)."""
MAX_JUMP_DESCRIPTION = (
    "a tick this far ahead of its key waits for the key's next tick to confirm it; none: off"
)


class ResampleParams(OlderSpellings):
    """Event-time OHLC bars over tumbling windows ``[start, start + window)``, per key."""

    COMPONENT = "operator.resample_ohlc"
    OLDER = (Older("key_fn", "key"), Older("watermark_lag", "allowed_lateness", seconds=True))

    window: PositiveDuration = Field(description="bar width: 1s, 1m, 5m, 1h, ...")
    key: str = Field(
        "symbol",
        description="expression that groups ticks into series (default: get_symbol if given, else symbol)",
    )
    allowed_lateness: Duration = Field(0, description="how far behind the newest tick a tick may arrive")
    offset: Duration = Field(0, description="shift of the window grid from the epoch")
    idle_timeout: Duration | None = Field(
        None, description="live sources: also close a window this long after end + allowed_lateness"
    )
    max_jump: MaxJump = Field(DEFAULT_MAX_JUMP_NS, description=MAX_JUMP_DESCRIPTION)
    fill: Literal["none", "flat"] = Field("none", description="flat: emit empty windows as flat bars")
    input: Literal["ticks", "bars"] | None = Field(
        None,
        description="ticks or bars; default: bars when the input has open/high/low/close/volume, else ticks",
    )
    late: str = Field(
        "drop", min_length=1, description="drop (count late ticks), or the id of a node that receives them"
    )
    get_symbol: str | None = Field(
        None, description="seed style: 'lambda t: t[\"sym\"]' instead of the symbol field"
    )
    get_price: str | None = Field(
        None, description="seed style: 'lambda t: t[\"px\"]' instead of the price field"
    )
    get_time: str | None = Field(
        None, description="seed style: a lambda giving ns since the epoch, instead of ts"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_getters_of_the_default_field(cls, data: Any) -> Any:
        """``get_price: "lambda x: x['price']"`` reads what is read anyway: it is left out, so it
        compiles as if not written (and is no error where bars are resampled)."""
        if not isinstance(data, dict):
            return data
        return {
            name: value
            for name, value in data.items()
            if name not in READS_BY_DEFAULT or single_field(value) != READS_BY_DEFAULT[name]
        }

    def key_param(self) -> str:
        """The param holding the key in force: ``key`` if written or without ``get_symbol``."""
        return "key" if "key" in self.model_fields_set or self.get_symbol is None else "get_symbol"

    def key_text(self) -> str:
        """The key expression in force: ``key`` if written, else ``get_symbol``, else ``symbol``."""
        return getattr(self, self.key_param())

    def getters(self) -> dict[str, str]:
        """The seed-style field readers given: {param name: lambda text}."""
        return {name: getattr(self, name) for name in GETTERS if getattr(self, name) is not None}


def infer_input(upstream: Schema | None) -> str:
    """``bars`` when the input schema has open, high, low, close and volume, else ``ticks``.

    >>> from compiler.schema import BAR, TICK
    >>> infer_input(BAR), infer_input(TICK)
    ('bars', 'ticks')
    """
    if upstream is not None and all(name in upstream.fields for name in BAR_MARKERS):
        return "bars"
    return "ticks"


def _getter_problems(params: ResampleParams, upstream: Schema | None, feeders: list[Feeder]) -> list[Problem]:
    """The getters that cannot be used as written, each with what to write instead.

    With bars as input every getter is of no use (the input may be ticks after all unless it
    comes from another resample). With ticks, a getter that reads one field the input lacks,
    while the input has the field read by default (the older system's ``x['timestamp']`` where
    ticks carry ``ts``), is better left out; a getter reading a field that is probably a typo of
    another is left to the field check and its did-you-mean.
    """
    if params.input == "bars":
        surely_bars = any(feeder.type == "operator.resample_ohlc" for feeder in feeders)
        other = "" if surely_bars else "; or set input: ticks if the input really carries ticks"
        return [
            Problem((name,), f"{name} reads ticks, but this node resamples bars",
                    f"remove {name}: {ON_BARS[name]}{other}")
            for name in params.getters()
        ]  # fmt: skip
    if upstream is None or upstream.open:
        return []
    problems = []
    for name, text in params.getters().items():
        field, default = single_field(text), READS_BY_DEFAULT[name]
        if field is None or upstream.has(field) or not upstream.has(default):
            continue
        if did_you_mean(field, upstream.names()) not in (None, f"did you mean {default!r}?"):
            continue
        problems.append(
            Problem(
                (name,),
                f"{name} reads {field!r}, a field its input does not have",
                f"remove {name}: resample_ohlc reads {READ_BY_DEFAULT_TEXT[name]} by default",
            )
        )
    return problems


def _bind(
    params: ResampleParams, upstream: Schema | None, feeders: list[Feeder]
) -> tuple[ResampleParams, list[Problem]]:
    """Settle ``input`` from the input schema, then check the getters and what bars input allows."""
    if params.input is None and infer_input(upstream) == "bars":
        params = params.model_copy(update={"input": "bars"})
    problems = _getter_problems(params, upstream, feeders)
    if params.input != "bars":
        return params, problems
    for feeder in feeders:
        if feeder.type != "operator.resample_ohlc":
            continue
        bars = feeder.params
        width, size = format_duration(bars.window), format_duration(params.window)
        if params.window % bars.window:
            message = f"window {size} is not a whole multiple of {width}, the interval of the bars"
            hint = f"use a multiple of {width}, such as {format_duration(2 * bars.window)}"
            problems.append(Problem(("window",), f"{message} from {feeder.id!r}", hint))
        elif (params.offset - bars.offset) % bars.window:
            message = (
                f"offset {format_duration(params.offset)} splits the {width} bars from {feeder.id!r} "
                f"(their offset is {format_duration(bars.offset)})"
            )
            problems.append(
                Problem(("offset",), message, f"the two offsets must differ by a multiple of {width}")
            )
    return params, problems


def _kwargs(params: ResampleParams) -> dict:
    kwargs = {
        "window_ns": params.window,
        "interval": format_duration(params.window),
        "key": key_code(parse_expression(params.key_text())),
        "offset_ns": params.offset,
        "allowed_lateness_ns": params.allowed_lateness,
        "idle_timeout_ns": params.idle_timeout,
        "max_jump_ns": params.max_jump,
        "fill": params.fill,
    }
    # Only what differs from the runtime's defaults, so plain tick configs compile as before.
    if params.input == "bars":
        kwargs["input"] = "bars"
    if params.late != "drop":
        kwargs["collect_late"] = True
    for name, text in params.getters().items():
        kwargs[name] = key_code(parse_expression(text))
    return kwargs


def _expressions(params: ResampleParams) -> dict[tuple, str]:
    found = {(name,): text for name, text in params.getters().items()}
    if params.key_param() == "key":
        found[params.param_path("key")] = params.key
    return found


def _requires(params: ResampleParams) -> list[tuple[tuple, str]]:
    if params.input == "bars":
        return [(("type",), name) for name in BAR_FIELDS]
    read_by = {"symbol": "get_symbol", "ts": "get_time", "price": "get_price", "size": None}
    return [
        (("type",), name)
        for name, getter in read_by.items()
        if getter is None or getattr(params, getter) is None
    ]


COMPONENTS = (
    Component(
        "operator.resample_ohlc",
        ResampleParams,
        "event-time OHLC bars per key (from ticks or finer bars), with watermarks and late-tick counting",
        output=lambda params, upstream: BAR,
        runtime="runtime_lib.operators.resample_ohlc:ResampleOHLC",
        state_text="its open windows and per-key watermarks",
        kwargs=_kwargs,
        expressions=_expressions,
        requires=_requires,
        side_outputs=lambda params: [Port("late", params.late, ("late",))] if params.late != "drop" else [],
        port_schema=lambda port, params, upstream, output: upstream,
        bind=_bind,
    ),
)
