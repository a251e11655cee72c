"""Built-in sinks: the bar store, JSON lines, and a counter."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..schema import BAR_FIELDS
from .base import Component, Params


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
