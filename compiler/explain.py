"""``mdp explain``: the optimised plan in words."""

from __future__ import annotations

from .plan import Plan


def explain(plan: Plan) -> str:
    """Describe segments, what was fused, and why every remaining boundary exists."""
    pipeline = plan.pipeline
    lines = [f"job {pipeline.name!r} from {pipeline.config_path}", "", "segments (one function each):"]
    for node in plan.nodes:
        if node.kind == "provider":
            lines.append(f"  source   {node.id!r} ({node.type}) at {node.location}")
        elif node.kind == "sink":
            lines.append(f"  sink     {node.id!r} ({node.type}) at {node.location}")
        elif node.stateless:
            members = " -> ".join(f"{m.id!r} ({m.type}, line {m.span.line})" for m in node.chain())
            label = f"fused {len(node.chain())} operators into one loop" if node.members else "one loop"
            lines.append(f"  loop     {members}: {label}")
        else:
            lines.append(f"  stateful {node.id!r} ({node.type}) at {node.location}")
    lines += ["", "boundaries (batches handed on between functions):"]
    lines += [f"  {b.source!r} -> {b.target!r}: {b.reason}" for b in plan.boundaries]
    if pipeline.warnings:
        lines += ["", "removed:"] + [f"  {w.message}" for w in pipeline.warnings]
    return "\n".join(lines)
