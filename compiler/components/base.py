"""What a component type is: its params model, its schemas, and how it is instantiated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo, WithJsonSchema

from runtime_lib.timeutil import parse_duration_ns

from ..schema import Schema

if TYPE_CHECKING:
    from ..codegen.chain import ChainWriter
    from ..ir import Node


class Strict(BaseModel):
    """Base of every model of config text (the job's shape, classic specs, component params):
    unknown keys are errors, never silently ignored, and a validated model is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Params = Strict
"""The base every params model subclasses, a plugin's too: :class:`Strict` under the name
components import."""


class Problem(NamedTuple):
    """A problem a component finds in its params: the param path to blame, a message, a hint."""

    path: tuple
    message: str
    hint: str | None = None


class Feeder(NamedTuple):
    """A node whose records reach another node's main input: its id, type name and params."""

    id: str
    type: str
    params: Any


class Port(NamedTuple):
    """A named output port: its name (``"late"``), the node id it feeds, and the param naming it."""

    name: str
    target: str
    path: tuple


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration is a number with a unit, such as 500ms, 1s, 1m or 1h")
    return parse_duration_ns(value)


Duration = Annotated[
    int, BeforeValidator(_duration), WithJsonSchema({"type": "string", "format": "duration"})
]
"""A duration written with a unit (``1m``), held as integer nanoseconds; at most 3650d
(:data:`runtime_lib.timeutil.MAX_DURATION_NS`), since a longer window, ttl or wait is a mistake
that would compile and then emit nothing."""


def _longer_than_zero(value: int, info: ValidationInfo) -> int:
    if value <= 0:
        raise ValueError(f"{info.field_name} must be longer than 0")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]
"""A :data:`Duration` that must be longer than 0 (a window, a ttl)."""


@dataclass(frozen=True)
class Code:
    """A fragment of generated Python built by the compiler from checked trees, not config text."""

    text: str
    imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inline:
    """How a stateless operator is written into a fused loop, all in one place.

    ``write(writer, node)`` appends the operator's code for one record through the methods of
    :class:`~compiler.codegen.chain.ChainWriter` (render an expression, assign fields, drop the
    record, split the stream); ``drops(params)`` says whether it can remove records, which it
    then does with ``writer.drop_if``; ``summary(params)`` is the text of its comment in the loop.
    """

    write: Callable[[ChainWriter, Node], None]
    summary: Callable[[Any], str]
    drops: Callable[[Any], bool] = lambda params: False


@dataclass(frozen=True)
class Component:
    """One node type: ``provider.*``, ``operator.*`` or ``sink.*``.

    ``expressions`` names the params that hold expressions (by param path); ``output`` derives
    the output schema from the params and the input schema; ``requires`` lists the fields the
    input must carry, each with the path (within the node) to blame when one is missing;
    ``check`` returns further problems, each a :class:`Problem`; ``runtime`` is the
    ``module:Class`` the generated code instantiates, with keyword arguments from ``kwargs``
    (absent for stateless operators, whose ``inline`` writes them into fused loops instead).

    ``side_outputs`` lists the named output ports (``"late"``), each a :class:`Port` with the
    node id the params send it to and the param naming it: the compiler adds those edges
    itself. ``port_schema`` gives the schema a port carries (default: the node's output
    schema). ``splits`` marks a stateless node that sends each
    record to one of its successors (a router): it always ends a fused chain. ``batch_limit``
    gives the most records one push downstream may carry (``operator.buffer``'s ``max_items``):
    the generated code cuts what the operator releases into runs of that many.

    ``bind(params, upstream, feeders)`` settles params that depend on the input, once its
    schema is known: ``feeders`` holds a :class:`Feeder` for each node feeding the main input.
    It returns the params to use from then on (a default filled in, such as resample_ohlc's
    ``input``) and further problems, each a :class:`Problem`.

    ``files`` lists the files the node opens, as (param path, mode, path text): mode ``read``
    (a source's input), ``write`` (truncated and written by this node alone) or ``update``
    (an SQLite database, which several stores may share). The compiler refuses two writers on
    one file and a writer on an input; the job checks again with the resolved paths when it starts.
    """

    type_name: str
    params: type[Params]
    summary: str
    output: Callable[[Any, Schema | None], Schema | None]
    runtime: str | None = None
    kwargs: Callable[[Any], dict] | None = None
    expressions: Callable[[Any], dict[tuple, str]] = lambda params: {}
    requires: Callable[[Any], list[tuple[tuple, str]]] = lambda params: []
    check: Callable[[Any], list[Problem]] = lambda params: []
    side_outputs: Callable[[Any], list[Port]] = lambda params: []
    port_schema: Callable[[str, Any, Schema | None, Schema | None], Schema | None] = (
        lambda port, params, upstream, output: output
    )
    splits: bool = False
    batch_limit: Callable[[Any], int | None] = lambda params: None
    state_text: str = "its state"  # what a checkpoint saves of a stateful operator, in words
    bind: Callable[[Any, Schema | None, list[Feeder]], tuple[Any, list[Problem]]] = (
        lambda params, upstream, feeders: (params, [])
    )
    files: Callable[[Any], list[tuple[tuple, str, str]]] = lambda params: []
    inline: Inline | None = None

    @property
    def kind(self) -> str:
        """``provider``, ``operator`` or ``sink``: the part before the first dot."""
        return self.type_name.split(".", 1)[0]

    @property
    def stateless(self) -> bool:
        """Stateless operators are inlined into fused loops instead of instantiated."""
        return self.kind == "operator" and self.inline is not None
