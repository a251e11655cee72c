"""The params of the Redis stream nodes: what compiles into what, and located errors for mistakes."""

from __future__ import annotations

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from tests.streams.jobs import dag


def config(source: str, sink: str = "{stream: copy}") -> str:
    """A job reading a stream with ``source`` params and writing another with ``sink`` params."""
    return dag(
        "relay",
        [("ticks", "provider.redis_stream", source), ("out", "sink.redis_stream", sink)],
        [("ticks", "out")],
    )


def problems(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of each diagnostic compiling ``text`` reports."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text("relay.yaml", text)
    return [(d.span.line, d.span.column, d.message) for d in caught.value.diagnostics]


def test_defaults_and_given_params_reach_the_runtime_classes():
    source = compile_text(
        "relay.yaml",
        config(
            '{url: "redis://:${REDIS_PASSWORD}@cache:6380/2", stream: ticks, group: bars, consumer: "${HOSTNAME}", block: 250, claim_idle: 2m}',
            "{stream: copy, maxlen: 100000, retry: {max_attempts: 3}}",
        ),
    ).source
    assert 'url=env_text("redis://:${REDIS_PASSWORD}@cache:6380/2", "ticks")' in source
    assert 'consumer=env_text("${HOSTNAME}", "ticks")' in source
    assert 'start="group",' in source and "block_ms=250," in source and "claim_idle_ms=120_000," in source
    assert 'url="redis://127.0.0.1:6379/0",' in source and "maxlen=100_000," in source
    assert 'retry={"max_attempts": 3, "initial_backoff": 0.5, "max_backoff": 30.0}' in source
    alone = compile_text("relay.yaml", config("{stream: ticks}")).source
    assert 'start="latest",' in alone and "group=None," in alone and "block_ms=1000," in alone


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{stream: ticks, group: g}", "a consumer group needs a consumer name"),
        ("{stream: ticks, consumer: c}", "consumer names a consumer of a group, but no group is given"),
        ("{stream: ticks, start: group}", "start: group needs a consumer group"),
        ("{stream: ticks, url: 'http://x'}", "a Redis url looks like redis://host:6379/0"),
        ("{stream: ticks, block: 0}", "must be at least 1ms"),
        ("{stream: ticks, block: 2m}", "block must be at most 60s"),
        ("{stream: ticks, start: newest}", "'earliest', 'latest' or 'group'"),
        ("{stream: ''}", "at least 1 character"),
    ],
)
def test_a_mistake_in_the_source_params_is_a_located_error(params, message):
    [(line, _column, text)] = problems(config(params))
    assert line == 7 and message in text, text


def test_a_bad_maxlen_is_a_located_error():
    [(line, _column, text)] = problems(config("{stream: ticks}", "{stream: copy, maxlen: 0}"))
    assert line == 10 and "greater than or equal to 1" in text


def test_bars_in_a_stream_feed_bar_operators():
    text = dag(
        "coarser",
        [
            ("bars", "provider.redis_stream", "{stream: bars_1m, records: bars}"),
            ("bars_5m", "operator.resample_ohlc", "{window: 5m}"),
            ("store", "sink.store", "{url: 'sqlite:///bars.db'}"),
        ],
        [("bars", "bars_5m"), ("bars_5m", "store")],
    )
    assert 'input="bars"' in compile_text("coarser.yaml", text).source
