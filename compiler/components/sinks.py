"""Built-in sinks: the bar store, JSON lines, and a counter."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from ..expressions import parse_expression
from ..schema import BAR_FIELDS
from .base import Component, Feeder, Params, Problem
from .keys import key_code

STDOUT = "-"
SQLITE_PREFIX = "sqlite:///"
_FILE_EXAMPLE = "give a file path such as sqlite:///mdp-data/bars.db"


def _store_path_problem(path: str) -> str | None:
    """Why the database path of a store url names no file the job could keep, if it does not.

    >>> _store_path_problem(":memory:")
    'an in-memory database is lost when the job ends; give a file path such as sqlite:///mdp-data/bars.db'
    >>> _store_path_problem("mdp-data/") is not None, _store_path_problem("mdp-data/bars.db")
    (True, None)
    """
    if path == ":memory:":
        return f"an in-memory database is lost when the job ends; {_FILE_EXAMPLE}"
    is_folder = path.endswith("/") or os.path.basename(path) in (".", "..")
    if is_folder or ("${" not in path and os.path.isdir(path)):
        return f"store url names a directory ({path}), not a database file; {_FILE_EXAMPLE}"
    return None


class StoreParams(Params):
    """Upsert bars into a table keyed by (symbol, interval, ts): replays leave no duplicates."""

    url: str = Field(description="sqlite:///relative/path.db or sqlite:////absolute/path.db")
    table: str = Field("bars", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="table name")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(SQLITE_PREFIX) or value == SQLITE_PREFIX:
            raise ValueError("store url must look like sqlite:///path/to/file.db")
        problem = _store_path_problem(value[len(SQLITE_PREFIX) :])
        if problem:
            raise ValueError(problem)
        return value


def _is_symbol(key: str) -> bool:
    """Whether a key expression is just the ``symbol`` field (``symbol`` or ``x['symbol']``)."""
    return key_code(parse_expression(key)).text == "itemgetter('symbol')"


def _bind_store(params: StoreParams, upstream, feeders: list[Feeder]) -> tuple[StoreParams, list[Problem]]:
    """Refuse bars grouped by more than the symbol: the store keys rows on (symbol, interval, ts),
    so two such bars of one symbol and window would overwrite each other."""
    problems = []
    for feeder in feeders:
        bars = feeder.params
        if feeder.type == "operator.resample_ohlc" and bars.key_param() == "key" and not _is_symbol(bars.key):
            problems.append(
                Problem(
                    (),
                    f"bars from {feeder.id!r} are grouped by {bars.key!r}, but the store keeps one "
                    "row per (symbol, interval, ts): bars of one symbol would overwrite each other",
                    "group the bars by symbol, or write them to sink.jsonl",
                )
            )
    return params, problems


class JsonlParams(Params):
    """Write one JSON object per line."""

    path: str = Field(min_length=1, description="file to write (truncated at start), or - for stdout")


def _store_files(params: StoreParams) -> list[tuple[tuple, str, str]]:
    """The store updates the database file its url names (several stores may share one)."""
    return [(("url",), "update", params.url[len(SQLITE_PREFIX) :])]


def _jsonl_files(params: JsonlParams) -> list[tuple[tuple, str, str]]:
    """The sink truncates and writes its ``path``, unless that is standard output."""
    return [] if params.path == STDOUT else [(("path",), "write", params.path)]


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
        files=_store_files,
    ),
    Component(
        "sink.jsonl",
        JsonlParams,
        "JSON lines to a file or stdout",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.jsonl:JsonlSink",
        kwargs=lambda params: {"path": params.path},
        files=_jsonl_files,
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
