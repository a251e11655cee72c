"""Built-in sinks: the store (bars or ticks, SQLite or PostgreSQL), JSON lines, and a counter."""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ..expressions import parse_expression
from ..schema import BAR_FIELDS, TICK_FIELDS
from .base import Component, Feeder, Params, Problem
from .keys import key_code
from .retry import RetryParams

STDOUT = "-"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_FILE_EXAMPLE = "give a file path such as sqlite:///mdp-data/bars.db"
_URL_FORMS = "sqlite:///path/to/file.db or postgresql://user:${PGPASSWORD}@host:port/database"


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


def _postgres_url_problem(url: str) -> str | None:
    """Why a ``postgresql://`` url cannot name a database, if it cannot (parts that refer to
    ``${NAME}`` variables are checked when the job connects).

    >>> _postgres_url_problem("postgresql://mdp:${PGPASSWORD}@db:5432/bars") is None
    True
    >>> _postgres_url_problem("postgresql://mdp@db:54x2/bars")
    "port '54x2' of the store url is not a number from 1 to 65535"
    """
    parts = urlsplit(url)
    host_port = parts.netloc.rpartition("@")[2]
    port = host_port.rpartition("]")[2].partition(":")[2]
    if port and "${" not in port and not (port.isdigit() and 0 < int(port) < 65536):
        return f"port {port!r} of the store url is not a number from 1 to 65535"
    if parts.fragment:
        return f"a store url has no #fragment (#{parts.fragment}); write options as ?name=value"
    return None


class StoreParams(Params):
    """Write bars (upserts keyed by symbol, interval, ts) or ticks (added once each) to SQLite or
    PostgreSQL: replays leave no duplicates."""

    url: str = Field(description=_URL_FORMS)
    table: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="table name (default: the table_mode)"
    )
    table_mode: Literal["bars", "ticks"] = Field("bars", description="store Bar records or Tick records")
    retry: RetryParams = Field(RetryParams(), description="how a failed write is tried again")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value.startswith(POSTGRES_PREFIXES):
            problem = _postgres_url_problem(value)
        elif value.startswith(SQLITE_PREFIX) and value != SQLITE_PREFIX:
            problem = _store_path_problem(value[len(SQLITE_PREFIX) :])
        else:
            problem = f"store url must look like {_URL_FORMS}"
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
    for feeder in feeders if params.table_mode == "bars" else ():
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
    """An SQLite store updates the database file its url names (several stores may share one);
    a PostgreSQL store opens no local file."""
    if not params.url.startswith(SQLITE_PREFIX):
        return []
    return [(("url",), "update", params.url[len(SQLITE_PREFIX) :])]


def _store_requires(params: StoreParams) -> list[tuple[tuple, str]]:
    """The fields of the records the mode stores (Bar or Tick), blamed on ``table_mode`` when
    the config sets it, else on the node's type."""
    fields = BAR_FIELDS if params.table_mode == "bars" else TICK_FIELDS
    blamed = ("params", "table_mode") if "table_mode" in params.model_fields_set else ("type",)
    return [(blamed, name) for name in fields]


def _store_kwargs(params: StoreParams) -> dict:
    """The store's constructor arguments (:func:`runtime_lib.sinks.store_rows.open_store`)."""
    return {
        "url": params.url,
        "table": params.table or params.table_mode,
        "table_mode": params.table_mode,
        "retry": params.retry.runtime(),
    }


def _jsonl_files(params: JsonlParams) -> list[tuple[tuple, str, str]]:
    """The sink truncates and writes its ``path``, unless that is standard output."""
    return [] if params.path == STDOUT else [(("path",), "write", params.path)]


class NullParams(Params):
    """Count records and discard them (benchmarks, dry runs)."""


COMPONENTS = (
    Component(
        "sink.store",
        StoreParams,
        "idempotent store of bars or ticks (SQLite, PostgreSQL)",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.store_rows:open_store",
        kwargs=_store_kwargs,
        requires=_store_requires,
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
