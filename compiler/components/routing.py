"""Routing operators (inlined into fused loops): stable hash partitioning and a router."""

from __future__ import annotations

from pydantic import Field

from ..schema import Schema
from .base import Component, Params


class HashPartitionParams(Params):
    """Tag each record with a partition number from a stable hash of its key."""

    key: str = Field("symbol", description="expression whose value is hashed")
    num_partitions: int = Field(gt=0, description="number of partitions")
    field: str = Field("partition", min_length=1, description="name of the field that receives the partition")


class RouterParams(Params):
    """Send each record to the node its key's value names."""

    key: str = Field(description="expression whose value selects the route")
    routes: dict[str | int, str] = Field(min_length=1, description="{value: node id}")
    default: str | None = Field(
        None, description="node id for values no route names (default: count as unrouted)"
    )


def _partition_output(params: HashPartitionParams, upstream: Schema | None) -> Schema | None:
    if upstream is None:
        return None
    return Schema({**upstream.fields, params.field: True}, upstream.open)


def _routes(params: RouterParams) -> dict[str, str]:
    ports = {f"route {value!r}": target for value, target in params.routes.items()}
    if params.default is not None:
        ports["default"] = params.default
    return ports


COMPONENTS = (
    Component(
        "operator.hash_partition",
        HashPartitionParams,
        "tag records with a stable partition number (inlined)",
        output=_partition_output,
        expressions=lambda params: {("key",): params.key},
    ),
    Component(
        "operator.router",
        RouterParams,
        "send each record to the node named for its key's value (inlined)",
        output=lambda params, upstream: upstream,
        expressions=lambda params: {("key",): params.key},
        side_outputs=_routes,
        splits=True,
    ),
)
