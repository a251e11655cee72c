"""The config file's shape, as pydantic models (the DAG form; classic specs lower to it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSpec(_Strict):
    """One node: a unique id, a registered type, and that type's params."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class DagSpec(_Strict):
    """Nodes and the directed edges between them (``[from_id, to_id]``)."""

    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[tuple[str, str]] = Field(default_factory=list)


class JobSpec(_Strict):
    """A whole config file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)
    mode: Literal["dag"] = "dag"
    description: str | None = None
    dag: DagSpec
