"""Routing operators (inlined into fused loops): stable hash partitioning and a router.

Each component's :class:`~.base.Inline` hook writes its code into the loop (see
:mod:`compiler.codegen.chain`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..schema import Schema
from .base import Component, Inline, Port
from .seed_aliases import Older, OlderSpellings

if TYPE_CHECKING:
    from ..codegen.chain import ChainWriter
    from ..ir import Node


class HashPartitionParams(OlderSpellings):
    """Tag each record with a partition number from a stable hash of its key."""

    COMPONENT = "operator.hash_partition"
    OLDER = (Older("key_fn", "key"),)

    key: str = Field("symbol", description="expression whose value is hashed")
    num_partitions: int = Field(gt=0, description="number of partitions")
    field: str = Field("partition", min_length=1, description="name of the field that receives the partition")


class RouterParams(OlderSpellings):
    """Send each record to the node its key's value names."""

    COMPONENT = "operator.router"
    OLDER = (Older("route_key", "key"), Older("key_fn", "key"))

    key: str = Field(description="expression whose value selects the route")
    routes: dict[str | int, str] = Field(min_length=1, description="{value: node id}")
    default: str | None = Field(
        None, description="node id for values no route names (default: count as unrouted)"
    )


def _partition_output(params: HashPartitionParams, upstream: Schema | None) -> Schema | None:
    if upstream is None:
        return None
    return Schema({**upstream.fields, params.field: True}, upstream.open)


def _routes(params: RouterParams) -> list[Port]:
    ports = [Port(f"route {value!r}", target, ("routes", value)) for value, target in params.routes.items()]
    if params.default is not None:
        ports.append(Port("default", params.default, ("default",)))
    return ports


def _write_partition(writer: ChainWriter, node: Node) -> None:
    """A hash partition's code: the partition field, computed where it is first read."""
    key = writer.render(node.expressions[node.params.param_path("key")])
    writer.require("from runtime_lib.hashing import stable_hash")
    writer.assign({node.params.field: f"stable_hash({key}) % {node.params.num_partitions}"})


def _write_router(writer: ChainWriter, node: Node) -> None:
    """A router's code: the key's value looked up in a table of the successors' batches.

    A router ends its chain, so it hands the record over itself.
    """
    params = node.params
    lists = writer.split()
    routes = ", ".join(
        f"{writer.literal(value)}: {lists[target]}.append" for value, target in params.routes.items()
    )
    writer.before_loop(f"route = {{{routes}}}.get")
    default = f"{lists[params.default]}.append" if params.default is not None else "None"
    key = writer.render(node.expressions[params.param_path("key")])
    writer.line(f"target = route({key}, {default})")
    if params.default is None:
        writer.drop_if("target is None")
    writer.line(f"target({writer.record()})")


def _router_summary(params: RouterParams) -> str:
    routes = ", ".join(f"{value!r} -> {target!r}" for value, target in params.routes.items())
    return f"route by {params.key}: {routes}" + (f", else -> {params.default!r}" if params.default else "")


COMPONENTS = (
    Component(
        "operator.hash_partition",
        HashPartitionParams,
        "tag records with a stable partition number (inlined)",
        output=_partition_output,
        expressions=lambda params: {params.param_path("key"): params.key},
        inline=Inline(
            _write_partition,
            summary=lambda params: f"{params.field} = stable_hash({params.key}) % {params.num_partitions}",
        ),
    ),
    Component(
        "operator.router",
        RouterParams,
        "send each record to the node named for its key's value (inlined)",
        output=lambda params, upstream: upstream,
        expressions=lambda params: {params.param_path("key"): params.key},
        side_outputs=_routes,
        splits=True,
        inline=Inline(_write_router, summary=_router_summary, drops=lambda params: params.default is None),
    ),
)
