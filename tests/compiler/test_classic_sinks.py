"""The older classic sinks: ``sink: database`` and its ``database_*`` overrides lower to
``sink.store`` (or are refused at their key), and ``sink: kafka`` is a located error."""

from __future__ import annotations

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from tests.compiler.test_classic import _lowered, classic


def problems(text: str) -> list[tuple[int, int, str, str | None]]:
    """(line, column, message, hint) of every diagnostic compiling ``text`` reports."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text("c.yaml", text)
    return [(d.span.line, d.span.column, d.message, d.hint) for d in caught.value.diagnostics]


def line_of(text: str, needle: str) -> int:
    """The 1-based line of ``text`` that holds ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_sink_kafka_and_every_kafka_override_are_errors_that_name_the_redis_stream():
    text = classic(extra="sink: kafka\n", kafka_bootstrap='"localhost:9092"', kafka_topic="ticks")
    found = problems(text)
    assert [(line, message) for line, _col, message, _hint in found] == [
        (line_of(text, "sink: kafka"), "Kafka is not supported yet: mdp cannot write to a Kafka topic"),
        (line_of(text, "kafka_bootstrap"), "Kafka is not supported yet: mdp cannot write to a Kafka topic"),
        (line_of(text, "kafka_topic"), "Kafka is not supported yet: mdp cannot write to a Kafka topic"),
    ]
    assert all("sink.redis_stream" in hint for *_rest, hint in found)
    assert found[1][1] == text.splitlines()[found[1][0] - 1].index("kafka_bootstrap") + 1  # at the key


def test_database_timeframe_is_the_bar_width():
    doc = _lowered(classic(extra="sink: database\n", database_timeframe="5m"))
    assert doc.data["dag"]["nodes"][1]["params"]["window"] == "5m"


def test_database_timeframe_and_bar_window_sec_together_are_an_error_at_the_timeframe():
    text = classic(extra="sink: database\n", database_timeframe="1m", bar_window_sec=60)
    [(line, _col, message, hint)] = problems(text)
    assert line == line_of(text, "database_timeframe")
    assert message == "the bar width is given twice: database_timeframe and bar_window_sec"


def test_a_bad_database_timeframe_is_reported_at_its_value():
    text = classic(extra="sink: database\n", database_timeframe="1x")
    [(line, _col, message, _hint)] = problems(text)
    assert line == line_of(text, "database_timeframe") and "not a duration: '1x'" in message


def test_database_vendor_must_agree_with_the_url():
    text = classic(extra="sink: database\n", database_vendor="postgres", database_url='"sqlite:///x.db"')
    [(line, _col, message, hint)] = problems(text)
    assert line == line_of(text, "database_vendor")
    assert (
        message == "database_vendor 'postgres' does not match database_url, which is not a postgresql:// url"
    )
    missing = classic(extra="sink: database\n", database_vendor="postgresql")
    [(_line, _col, message, hint)] = problems(missing)
    assert message == "database_vendor 'postgresql' needs database_url" and "postgresql://" in hint
    assert compile_text("c.yaml", classic(extra="sink: database\n", database_vendor="sqlite")).source


def test_an_unknown_database_vendor_names_the_known_ones():
    text = classic(extra="sink: database\n", database_vendor="oracle")
    [(line, _col, message, _hint)] = problems(text)
    assert line == line_of(text, "database_vendor")
    assert "'sqlite'" in message and "'postgres'" in message and "'postgresql'" in message


def test_database_retry_overrides_become_the_store_retry():
    doc = _lowered(
        classic(extra="sink: database\n", database_retry_max_attempts=5, database_retry_backoff_ms=250)
    )
    store = doc.data["dag"]["nodes"][2]
    assert store["params"]["retry"] == {"max_attempts": 5, "initial_backoff": "250ms"}
    source = compile_text(
        "c.yaml",
        classic(extra="sink: database\n", database_retry_max_attempts=5, database_retry_backoff_ms=250),
    ).source
    assert '"max_attempts": 5' in source and '"initial_backoff": 0.25' in source


def test_a_bad_database_retry_override_is_reported_at_its_key():
    text = classic(extra="sink: database\n", database_retry_max_attempts=0)
    [(line, _col, message, _hint)] = problems(text)
    assert line == line_of(text, "database_retry_max_attempts") and "greater than or equal to 1" in message
