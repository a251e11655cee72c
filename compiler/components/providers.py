"""Built-in sources: file replay and a seeded synthetic tick generator."""

from __future__ import annotations

from pydantic import Field

from ..schema import TICK, TICK_FIELDS, Schema
from .base import Component, Params


class ReplayParams(Params):
    """Replay ticks from a CSV or CSV.gz file (symbol, ts, price, size; bid/ask optional)."""

    path: str = Field(min_length=1, description="CSV or CSV.gz file; relative to the working directory at run time")
    symbols: list[str] | None = Field(None, description="keep only these symbols (default: all)")
    speed: float = Field(0.0, ge=0, description="0 = as fast as possible, 1 = real time, 10 = ten times faster")
    batch_size: int = Field(1024, gt=0, description="records per batch handed downstream")


class SyntheticParams(Params):
    """A seeded random walk of ticks: the same seed gives the same ticks on every run."""

    symbols: list[str] = Field(min_length=1, description="symbols to generate")
    seed: int = Field(0, description="random seed")
    count: int | None = Field(None, ge=0, description="number of ticks (default: endless)")
    rate: float = Field(0.0, ge=0, description="ticks per second in wall time; 0 = unpaced")
    batch_size: int = Field(1024, gt=0, description="records per batch handed downstream")


def _replay_kwargs(params: ReplayParams) -> dict:
    return {
        "path": params.path,
        "symbols": tuple(params.symbols) if params.symbols is not None else None,
        "speed": params.speed,
        "batch_size": params.batch_size,
    }


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
        "replay recorded ticks from CSV / CSV.gz",
        output=lambda params, upstream: TICK,
        runtime="runtime_lib.sources.replay:ReplaySource",
        kwargs=_replay_kwargs,
    ),
    Component(
        "provider.synthetic",
        SyntheticParams,
        "seeded random-walk ticks (deterministic for a seed)",
        output=lambda params, upstream: Schema.of(TICK_FIELDS + ("bid", "ask", "bid_size", "ask_size")),
        runtime="runtime_lib.sources.synthetic:SyntheticSource",
        kwargs=_synthetic_kwargs,
    ),
)
