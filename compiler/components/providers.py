"""Built-in sources: file replay and a seeded synthetic tick generator."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, Field

from runtime_lib.sources.lines import DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES
from runtime_lib.sources.source_bounds import DEFAULT_START_TS, event_step_ns, ticks_before_end
from runtime_lib.timeutil import format_duration

from ..schema import TICK, TICK_FIELDS, Schema
from .base import Component, Params, Problem
from .bounds import BatchSize, Speed, TickRate, TsBound, ordered_range

MAX_COUNT = 10**12
INT64 = 2**63


def _no_nul(path: str) -> str:
    if "\0" in path:
        raise ValueError("path contains a NUL character")
    return path


PARQUET_RENAMED = "Parquet under another name"
READ_AS_OTHER = {
    ".pq": PARQUET_RENAMED,
    ".parq": PARQUET_RENAMED,
    ".json": "JSON",
    ".jsonl": "JSON lines",
    ".ndjson": "JSON lines",
    ".tsv": "tab-separated text",
    ".feather": "Arrow IPC",
    ".arrow": "Arrow IPC",
    ".ipc": "Arrow IPC",
    ".orc": "ORC",
    ".avro": "Avro",
    ".xlsx": "a spreadsheet",
    ".xls": "a spreadsheet",
    ".zip": "a zip archive",
    ".bz2": "bzip2-compressed",
    ".xz": "xz-compressed",
    ".zst": "zstd-compressed",
    ".db": "a database",
    ".sqlite": "a database",
}
"""Endings of files a replay cannot read, and what such a file holds, for the message."""
REPLAY_FORMATS = "CSV (.csv, .csv.gz) or Parquet (a .parquet file, or a folder of them)"


class ReplayParams(Params):
    """Replay ticks from CSV, CSV.gz or Parquet (symbol, ts, price, size; bid/ask optional)."""

    path: Annotated[str, AfterValidator(_no_nul)] = Field(
        min_length=1,
        description="CSV or CSV.gz file, or Parquet: a .parquet file or a folder of them; "
        "relative to the working directory at run time",
    )
    symbols: list[str] | None = Field(None, description="keep only these symbols (default: all)")
    speed: Speed = Field(
        0.0, description="0 = as fast as possible, 1 = real time, 10 = ten times faster (0.001 to 1,000,000)"
    )
    batch_size: BatchSize = Field(1024, description="records per batch handed downstream (1 to 100,000)")
    ts_range: Annotated[tuple[TsBound, TsBound], AfterValidator(ordered_range)] | None = Field(
        None,
        description="[from, up to]: years, dates or timestamps; ticks outside are set aside "
        "(default [1990, 2100])",
    )
    max_line_bytes: int = Field(
        DEFAULT_MAX_LINE_BYTES,
        ge=64,
        le=MAX_LINE_BYTES,
        description="longest line read; a longer one stops the job (default 1 MiB)",
    )


class SyntheticParams(Params):
    """A seeded random walk of ticks: the same seed gives the same ticks on every run."""

    symbols: list[str] = Field(min_length=1, description="symbols to generate")
    seed: int = Field(0, ge=-INT64, lt=INT64, description="random seed")
    count: int | None = Field(None, ge=0, le=MAX_COUNT, description="number of ticks (default: endless)")
    rate: TickRate = Field(0.0, description="ticks per second in wall time (0.001 to 1e9); 0 = unpaced")
    batch_size: BatchSize = Field(1024, description="records per batch handed downstream (1 to 100,000)")


def _replay_kwargs(params: ReplayParams) -> dict:
    kwargs = {
        "path": params.path,
        "symbols": tuple(params.symbols) if params.symbols is not None else None,
        "speed": params.speed,
        "batch_size": params.batch_size,
    }
    # only when given, so that modules compiled before these params existed stay the same
    if params.ts_range is not None:
        kwargs["ts_range"] = params.ts_range
    if "max_line_bytes" in params.model_fields_set:
        kwargs["max_line_bytes"] = params.max_line_bytes
    return kwargs


def _replay_path_problems(params: ReplayParams) -> list[Problem]:
    """A path whose ending names a format the replay does not read (``ticks.jsonl``).

    Any other path is read as CSV (a FIFO, a name without an ending), unless it ends in
    ``.parquet`` or names a folder at run time.
    """
    stem = params.path.lower()
    stem = stem[: -len(".gz")] if stem.endswith(".gz") else stem
    ending = os.path.splitext(stem.rstrip("/"))[1]
    hint = "convert the ticks to CSV or Parquet (columns symbol, ts, price, size)"
    if ending == ".parquet" and params.path.lower().endswith(".gz"):
        what = "gzip-compressed Parquet"
        hint = "Parquet compresses its own pages: give the .parquet file uncompressed"
    elif ending in READ_AS_OTHER:
        what = READ_AS_OTHER[ending]
        if what == PARQUET_RENAMED:
            hint = "rename the file to end in .parquet, or give the folder that holds it"
    else:
        return []
    return [
        Problem(("path",), f"provider.replay reads {REPLAY_FORMATS}; {params.path!r} looks like {what}", hint)
    ]


def _replay_files(params: ReplayParams) -> list[tuple[tuple, str, str]]:
    """The replay reads its ``path``."""
    return [(("path",), "read", params.path)]


def _synthetic_check(params: SyntheticParams) -> list[Problem]:
    """A count that would carry event time past 2100-01-01 (where sources stop accepting ticks)."""
    step = event_step_ns(params.rate)
    most = ticks_before_end(DEFAULT_START_TS, step)
    if params.count is None or params.count <= most:
        return []
    return [
        Problem(
            ("count",),
            f"{params.count} ticks {format_duration(step)} apart run past 2100-01-01 in event time",
            f"at this rate at most {most} ticks fit; lower count or raise rate",
        )
    ]


def _synthetic_kwargs(params: SyntheticParams) -> dict:
    return {
        "symbols": tuple(params.symbols),
        "seed": params.seed,
        "count": params.count,
        "rate": params.rate,
        "batch_size": params.batch_size,
    }


COMPONENTS = (
    Component(
        "provider.replay",
        ReplayParams,
        "replay recorded ticks from CSV / CSV.gz / Parquet",
        output=lambda params, upstream: TICK,
        runtime="runtime_lib.sources.replay:ReplaySource",
        kwargs=_replay_kwargs,
        check=_replay_path_problems,
        files=_replay_files,
    ),
    Component(
        "provider.synthetic",
        SyntheticParams,
        "seeded random-walk ticks (deterministic for a seed)",
        output=lambda params, upstream: Schema.of(TICK_FIELDS + ("bid", "ask", "bid_size", "ask_size")),
        runtime="runtime_lib.sources.synthetic:SyntheticSource",
        kwargs=_synthetic_kwargs,
        check=_synthetic_check,
    ),
)
