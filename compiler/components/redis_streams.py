"""``provider.redis_stream`` and ``sink.redis_stream``: records between jobs through a Redis stream.

The runtime classes are :class:`runtime_lib.sources.redis_stream.RedisStreamSource` and
:class:`runtime_lib.sinks.redis_stream.RedisStreamSink`; the client library (the ``redis``
extra) is imported when the job starts, so compiling needs neither it nor a server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from runtime_lib.sources.redis_stream import DEFAULT_BLOCK_MS, DEFAULT_CLAIM_IDLE_MS

from ..schema import BAR, TICK, Schema
from .base import Component, Duration, Params, Problem
from .bounds import BatchSize
from .retry import RetryParams

NS_PER_MS = 1_000_000
MAX_BLOCK_MS = 60_000
DEFAULT_URL = "redis://127.0.0.1:6379/0"
URL_SCHEMES = ("redis://", "rediss://", "unix://")
SCHEMAS = {"ticks": TICK, "bars": BAR, "any": Schema({}, open=True)}


def _redis_url(value: str) -> str:
    if not value.startswith(URL_SCHEMES):
        raise ValueError("a Redis url looks like redis://host:6379/0 (or rediss://, unix://)")
    return value


def _milliseconds(value: Any) -> Any:
    """A bare whole number is milliseconds, as Redis's BLOCK takes it."""
    return f"{value}ms" if isinstance(value, int) and not isinstance(value, bool) else value


def _whole_ms(value: int) -> int:
    if value < NS_PER_MS:
        raise ValueError("must be at least 1ms")
    return value


RedisUrl = Annotated[str, AfterValidator(_redis_url)]
Milliseconds = Annotated[Duration, BeforeValidator(_milliseconds), AfterValidator(_whole_ms)]
StreamName = Annotated[str, Field(min_length=1, max_length=1024)]


class RedisStreamParams(Params):
    """Read records from a Redis stream, alone or as one consumer of a consumer group."""

    url: RedisUrl = Field(DEFAULT_URL, description="redis://[:password@]host:port/db; ${ENV} for a password")
    stream: StreamName = Field(description="the stream's key")
    group: StreamName | None = Field(None, description="consumer group (created when missing)")
    consumer: StreamName | None = Field(None, description="this job's consumer name in the group")
    start: Literal["earliest", "latest", "group"] | None = Field(
        None,
        description="earliest: the stream's first entry; latest: only new entries; group: where the "
        "group is (default with a group; else latest)",
    )
    batch_size: BatchSize = Field(1024, description="most entries read at once (1 to 100,000)")
    block: Milliseconds = Field(
        DEFAULT_BLOCK_MS * NS_PER_MS, description="how long one read waits for new entries (1ms to 60s)"
    )
    claim_idle: Milliseconds = Field(
        DEFAULT_CLAIM_IDLE_MS * NS_PER_MS,
        description="take over entries other consumers left pending this long",
    )
    records: Literal["ticks", "bars", "any"] = Field(
        "ticks", description="what the entries hold: ticks, bars, or any fields (not checked downstream)"
    )
    retry: RetryParams = Field(
        RetryParams(), description="reconnects: max_attempts, initial_backoff, max_backoff"
    )

    @field_validator("block")
    @classmethod
    def _short_block(cls, value: int) -> int:
        if value > MAX_BLOCK_MS * NS_PER_MS:
            raise ValueError("block must be at most 60s (a job stops only between reads)")
        return value


class RedisStreamSinkParams(Params):
    """Append each record to a Redis stream as one entry (XADD)."""

    url: RedisUrl = Field(DEFAULT_URL, description="redis://[:password@]host:port/db; ${ENV} for a password")
    stream: StreamName = Field(description="the stream's key")
    maxlen: int | None = Field(None, ge=1, description="trim the stream to about this many entries")
    retry: RetryParams = Field(RetryParams(), description="writes that fail for a passing reason are retried")


def _start(params: RedisStreamParams) -> str:
    return params.start or ("group" if params.group else "latest")


def _source_check(params: RedisStreamParams) -> list[Problem]:
    """A group needs a consumer name and the other way round; ``start: group`` needs a group."""
    if params.group is not None and params.consumer is None:
        return [Problem(("group",), "a consumer group needs a consumer name", "add consumer: <name>")]
    if params.consumer is not None and params.group is None:
        message = "consumer names a consumer of a group, but no group is given"
        return [Problem(("consumer",), message, "add group: <name>, or remove consumer")]
    if params.start == "group" and params.group is None:
        return [Problem(("start",), "start: group needs a consumer group", "add group and consumer")]
    return []


def _source_kwargs(params: RedisStreamParams) -> dict:
    return {
        "url": params.url,
        "stream": params.stream,
        "group": params.group,
        "consumer": params.consumer,
        "start": _start(params),
        "batch_size": params.batch_size,
        "block_ms": params.block // NS_PER_MS,
        "claim_idle_ms": params.claim_idle // NS_PER_MS,
        "retry": params.retry.runtime(),
    }


def _sink_kwargs(params: RedisStreamSinkParams) -> dict:
    return {
        "url": params.url,
        "stream": params.stream,
        "maxlen": params.maxlen,
        "retry": params.retry.runtime(),
    }


COMPONENTS = (
    Component(
        "provider.redis_stream",
        RedisStreamParams,
        "records from a Redis stream (XREAD, or a consumer group with acknowledgements)",
        output=lambda params, upstream: SCHEMAS[params.records],
        runtime="runtime_lib.sources.redis_stream:RedisStreamSource",
        kwargs=_source_kwargs,
        check=_source_check,
    ),
    Component(
        "sink.redis_stream",
        RedisStreamSinkParams,
        "records to a Redis stream (XADD, pipelined per batch)",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.redis_stream:RedisStreamSink",
        kwargs=_sink_kwargs,
    ),
)
