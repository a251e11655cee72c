"""The Parquet sink: records in a folder of Parquet files partitioned by symbol and date (hive style)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .base import Component, Feeder, Params, Problem

MAX_ROWS = 100_000_000
APPEND = "append"
PARTITION_DATE = "date"
DEFAULT_ROWS_PER_FILE = 100_000
DEFAULT_MAX_BUFFERED_ROWS = 1_000_000
"""The defaults of :class:`runtime_lib.sinks.parquet_sink.ParquetSink`, kept here so that checking a
config does not import pyarrow."""


def _folder(path: str) -> str:
    if "\0" in path:
        raise ValueError("path contains a NUL character")
    if path == "-":
        raise ValueError("sink.parquet writes a folder of files, not standard output: give a folder path")
    return path


class ParquetParams(Params):
    """Write records under a folder, one folder per symbol and UTC date: symbol=X/date=YYYY-MM-DD."""

    path: Annotated[str, AfterValidator(_folder)] = Field(
        min_length=1, description="folder to write the partitions under (created if missing)"
    )
    rows_per_file: int = Field(
        DEFAULT_ROWS_PER_FILE,
        ge=1,
        le=MAX_ROWS,
        description="rows of one partition per file (default 100,000)",
    )
    max_buffered_rows: int = Field(
        DEFAULT_MAX_BUFFERED_ROWS,
        ge=1,
        le=MAX_ROWS,
        description="rows held in memory over all partitions before every partition is written "
        "(default 1,000,000)",
    )
    mode: Literal["append", "overwrite"] = Field(
        APPEND,
        description="append: every run adds files; overwrite: a run first removes the older part files "
        "of each partition it writes to",
    )


def _kwargs(params: ParquetParams) -> dict:
    return {
        "path": params.path,
        "rows_per_file": params.rows_per_file,
        "max_buffered_rows": params.max_buffered_rows,
        "mode": params.mode,
    }


def _files(params: ParquetParams) -> list[tuple[tuple, str, str]]:
    """The sink writes the folder its ``path`` names (no other node may write or read it)."""
    return [(("path",), "write", params.path)]


def _bind(params: ParquetParams, upstream, feeders: list[Feeder]) -> tuple[ParquetParams, list[Problem]]:
    """Refuse records that carry a ``date`` field: readers would confuse it with the partition."""
    if upstream is None or PARTITION_DATE not in upstream.fields:
        return params, []
    problem = Problem(
        (),
        f"the records have a field {PARTITION_DATE!r}, which is also the name of the date partition",
        "rename the field (operator.map) before the sink",
    )
    return params, [problem]


COMPONENTS = (
    Component(
        "sink.parquet",
        ParquetParams,
        "Parquet files partitioned by symbol and date (needs pyarrow)",
        output=lambda params, upstream: None,
        runtime="runtime_lib.sinks.parquet_sink:ParquetSink",
        kwargs=_kwargs,
        requires=lambda params: [(("type",), "symbol"), (("type",), "ts")],
        bind=_bind,
        files=_files,
    ),
)
