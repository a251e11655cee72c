"""Built-in sinks: the bar store, JSON lines, and a counter."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..schema import BAR_FIELDS
from ..expressions import parse_expression
from .base import Component, Params
from .keys import key_code


class StoreParams(Params):
    """Upsert bars into a table keyed by (symbol, interval, ts): replays leave no duplicates."""

    url: str = Field(description="sqlite:///relative/path.db or sqlite:////absolute/path.db")
    table: str = Field("bars", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="table name")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError("store url must look like sqlite:///path/to/file.db")
        return value


def _is_symbol(key: str) -> bool:
    """Whether a key expression is just the ``symbol`` field (``symbol`` or ``x['symbol']``)."""
    return key_code(parse_expression(key)).text == "itemgetter('symbol')"


def _bind_store(params: StoreParams, upstream, feeders: list) -> tuple[StoreParams, list]:
    """Refuse bars grouped by more than the symbol: the store keys rows on (symbol, interval, ts),
    so two such bars of one symbol and window would overwrite each other."""
    problems = []
    for feeder_id, type_name, feeder in feeders:
        if type_name == "operator.resample_ohlc" and feeder.key_param() == "key" and not _is_symbol(feeder.key):
            problems.append(((), f"bars from {feeder_id!r} are grouped by {feeder.key!r}, but the store keeps one "
                             "row per (symbol, interval, ts): bars of one symbol would overwrite each other",
                             "group the bars by symbol, or write them to sink.jsonl"))
    return params, problems


class JsonlParams(Params):
    """Write one JSON object per line."""

    path: str = Field(min_length=1, description="file to write (truncated at start), or - for stdout")


class NullParams(Params):
    """Count records and discard them (benchmarks, dry runs)."""


COMPONENTS = (
    Component(
        "sink.store",
        StoreParams,
        "idempotent bar store (SQLite)",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.sqlite_store:SqliteStore",
        kwargs=lambda params: {"url": params.url, "table": params.table},
        requires=lambda params: [(("type",), name) for name in BAR_FIELDS],
        bind=_bind_store,
    ),
    Component(
        "sink.jsonl",
        JsonlParams,
        "JSON lines to a file or stdout",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.jsonl:JsonlSink",
        kwargs=lambda params: {"path": params.path},
    ),
    Component(
        "sink.null",
        NullParams,
        "count and discard",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.null:NullSink",
        kwargs=lambda params: {},
    ),
)
