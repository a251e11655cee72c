"""The generated ``ctx.saved_state`` lines: per stateful node and source, the params its saved state
depends on, so that a checkpoint taken under other values is refused instead of misread.

Every param counts except those that only tune how the state is used, not what it holds: how
late a record may be, idle timeouts, replay pacing, batch sizes, retries, where late records go. So a
changed ``allowed_lateness`` or replay ``speed`` keeps the state; a changed ``window``, ``key`` or
input ``path`` does not. Durations are written with their unit, as in the config.
"""

from __future__ import annotations

from ..component_docs import shown_value
from ..ir import Node
from ..plan import Plan
from .literals import call

TUNING = frozenset(
    {
        "late",
        "batch_size",
        "speed",
        "max_line_bytes",
        "block",
        "claim_idle",
        "retry",
        "max_pending",
        "max_wait",
    }
)
"""Params that do not change the shape or meaning of a node's saved state."""
EXACTLY_ONCE = ("sink.store", "sink.jsonl", "sink.redis_stream")
"""Sinks that commit what they wrote with each checkpoint (a JSON-lines sink when it writes a file)."""


def holds_state(node: Node) -> bool:
    """Whether a checkpoint saves something for ``node``: a source's position or an operator's state."""
    return node.kind == "provider" or (node.kind == "operator" and not node.stateless)


def saved_state_call(node: Node) -> str:
    """The ``ctx.saved_state(...)`` line of a node a checkpoint saves: its config location and the
    params its state depends on."""
    schema = node.params.model_json_schema()
    values = node.params.model_dump(mode="json")
    props, defs = schema.get("properties", {}), schema.get("$defs", {})
    params = {
        name: shown_value(props.get(name, {}), value, defs)
        for name, value in sorted(values.items())
        if name not in TUNING
    }
    return call("ctx.saved_state", node.id, node.location, params)


def state_comment(plan: Plan) -> list[str]:
    """Plan-comment lines saying what a checkpoint saves for each node."""
    lines = []
    for node in plan.nodes:
        if node.kind == "provider":
            lines.append(f"{node.id!r} ({node.type}): its position in the input")
        elif holds_state(node):
            lines.append(f"{node.id!r} ({node.type}): {node.component.state_text}")
        elif node.type in EXACTLY_ONCE and not (node.type == "sink.jsonl" and str(node.params.path) == "-"):
            lines.append(
                f"{node.id!r} ({node.type}): commits what it wrote with each checkpoint's id (exactly once)"
            )
    return lines
