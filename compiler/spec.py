"""The config file's shape, as pydantic models (the DAG form; classic specs lower to it)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .components.base import Duration, Strict

JobName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)]
"""A job name: it names the generated module, so letters, digits, ``_``, ``.`` and ``-`` only."""

LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_LABELS = ("job", "node", "type")


class NodeSpec(Strict):
    """One node: a unique id, a registered type, and that type's params."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class DagSpec(Strict):
    """Nodes and the directed edges between them (``[from_id, to_id]``)."""

    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[tuple[str, str]] = Field(default_factory=list)


class CheckpointSpec(Strict):
    """``run.checkpoint``: take a snapshot of the job's state every ``every``, into ``dir``."""

    every: Duration = Field(10_000_000_000, description="time between checkpoints (default 10s)")
    dir: str | None = Field(
        None, min_length=1, description="folder of the snapshots (default: <state dir>/checkpoints)"
    )

    @field_validator("every")
    @classmethod
    def _at_least_a_millisecond(cls, value: int) -> int:
        if value < 1_000_000:
            raise ValueError("checkpoint every must be at least 1ms")
        return value


class RunSpec(Strict):
    """Defaults for running the compiled job; command-line options and ``MDP_UNIFIED_*`` win over them."""

    duration: Duration | None = Field(
        None, description="stop after this long (default: until the sources end)"
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve Prometheus metrics on this port"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(None, description="default INFO")
    labels: dict[str, str] = Field(default_factory=dict, description="constant labels on every metric")
    checkpoint: CheckpointSpec | None = Field(None, description="periodic snapshots of the job's state")
    engine: Literal["streaming", "ray"] | None = Field(None, description="streaming (default) or ray")
    shards: int | None = Field(None, ge=1, le=1024, description="with engine ray: how many shards (2)")
    on_stop: Literal["savepoint", "flush"] | None = Field(
        None,
        description="with checkpoints, what SIGTERM/SIGINT do with open windows: keep them in a last "
        "snapshot (savepoint, the default) or emit them (flush)",
    )

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError("duration must be longer than 0 (leave it out to run until the sources end)")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(LABEL_NAME, name) or name.startswith("__") or name in RESERVED_LABELS:
                raise ValueError(
                    f"bad metrics label name {name!r}: use letters, digits and _, "
                    f"not starting with __ and not one of {', '.join(RESERVED_LABELS)}"
                )
        return value


class JobSpec(Strict):
    """A whole config file in the DAG form (a classic config is lowered to this form first).

    A file may hold both a ``dag`` and a ``classic`` section; ``mode`` picks the one that is
    compiled, and the other is not read. ``plugins`` lists the modules whose code the config
    may run (see :mod:`compiler.components.trust`); each entry is checked while building.
    """

    name: JobName
    mode: Literal["dag", "classic"] = "dag"
    description: str | None = None
    dag: DagSpec
    classic: dict[str, Any] | None = None
    run: RunSpec | None = None
    plugins: list[str] = Field(default_factory=list, description="modules the config may import code from")
