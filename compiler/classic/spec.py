"""The classic (linear) spec format, as pydantic models: one source, the bars operator, a store.

Types are strict (``"50"`` is not a number) and unknown keys are errors. ``null`` is the same
as leaving a key out; ``0`` is a real zero. Rules that tie fields together (``replay_path``
only with ``source: replay``, ...) are checked while lowering, with a hint each.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from runtime_lib.timeutil import MAX_DURATION_NS, NS_PER_SECOND

from ..components.base import Strict
from ..spec import JobName, RunSpec

MAX_SECONDS = MAX_DURATION_NS // NS_PER_SECOND  # the longest duration mdp accepts, 3650 days

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)]


class _StrictTypes(Strict):
    """A :class:`~compiler.components.base.Strict` model whose values are not coerced either:
    ``"50"`` is not a number, and neither are ``.nan`` and ``.inf``."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)


class ClassicOverrides(_StrictTypes):
    """Tuning of the lowered nodes; each key is used or rejected, none is ignored."""

    ticks_per_sec: float | None = Field(
        None, ge=0, description="synthetic: ticks per second, 0 = unpaced (100)"
    )
    bar_window_sec: float | None = Field(None, gt=0, le=MAX_SECONDS, description="bar width in seconds (1)")
    bar_allowed_lateness_sec: float | None = Field(
        None, ge=0, le=MAX_SECONDS, description="allowed lateness in seconds (0)"
    )
    batch_size: int | None = Field(None, gt=0, description="records per batch the source hands on (1024)")
    flush_ms: Any = Field(None, description="not supported: rejected with a hint")
    replay_path: str | None = Field(None, min_length=1, description="replay: the CSV, CSV.gz or Parquet file")
    replay_speed: float | None = Field(None, ge=0, description="replay: 0 = unpaced, 1 = real time (1)")
    database_url: str | None = Field(
        None, min_length=1, description="the store's url: sqlite:///path.db or postgresql://user@host/db"
    )
    database_vendor: Literal["sqlite", "postgres", "postgresql"] | None = Field(
        None, description="must agree with database_url's scheme"
    )
    database_timeframe: str | None = Field(
        None, min_length=1, description="the bars' width, such as 1m (the same as bar_window_sec)"
    )
    database_retry_max_attempts: int | None = Field(
        None, ge=1, le=1000, description="store retry.max_attempts"
    )
    database_retry_backoff_ms: float | None = Field(
        None, ge=0, le=MAX_SECONDS * 1000, description="store retry.initial_backoff, in milliseconds"
    )
    kafka_bootstrap: Any = Field(None, description="not supported: rejected with a hint")
    kafka_topic: Any = Field(None, description="not supported: rejected with a hint")


class ClassicSpec(_StrictTypes):
    """The linear pipeline: ``source -> operator -> sink``."""

    tenant_id: Identifier = Field(description="metrics label tenant_id; part of the default store path")
    pipeline_id: Identifier = Field(description="metrics label pipeline_id; part of the default store path")
    source: Literal["synthetic", "replay", "ibkr"]
    symbols: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    duration_sec: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="default run duration (absent: until the end)"
    )
    operator: Literal["bars"] = "bars"
    sink: Literal["store", "database", "kafka"] = "store"
    overrides: ClassicOverrides | None = None


class ClassicSection(_StrictTypes):
    """The ``classic:`` section of a config."""

    spec: ClassicSpec


class ClassicJobSpec(_StrictTypes):
    """A whole config in classic mode (``mode: classic``)."""

    name: JobName
    mode: Literal["classic"]
    description: str | None = None
    classic: ClassicSection
    dag: dict[str, Any] | None = Field(None, description="not read in classic mode")
    run: RunSpec | None = None
