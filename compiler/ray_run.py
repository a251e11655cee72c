"""``mdp run --engine ray``: split the compiled plan at its exchange and run it on Ray shards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .job_prep import PreparedRun

if TYPE_CHECKING:
    from runtime_lib.runner import RunOptions
from .sharding import key_text, shard_plan


def run_with_ray(prepared: PreparedRun, shards: int, address: str | None, options: RunOptions) -> int:
    """Run ``prepared`` on ``shards`` shards with ``options`` (``max_events`` and ``duration``
    stop the reading of sources without an end); print the summary and return the exit status.

    A plan that cannot be sharded raises :class:`DiagnosticError` before anything runs.
    """
    from runtime_lib.errors import JobError
    from runtime_lib.ray_engine import join_shard_files, run_on_ray
    from runtime_lib.shard_counters import summary_context
    from runtime_lib.summary import format_summary

    plan = prepared.compiled.plan
    split = shard_plan(plan)  # DiagnosticError: the caller reports it at the config's lines
    jsonl = [
        str(node.params.path)
        for node in plan.pipeline.ordered()
        if node.type == "sink.jsonl" and node.id in split.per_shard and str(node.params.path) != "-"
    ]
    name = plan.pipeline.name
    try:
        source = Path(prepared.module_path).read_text(encoding="utf-8")
        merged = run_on_ray(source, shards, split, address, options)
    except JobError as exc:
        print(f"error: job {name!r}: {exc}", file=sys.stderr)
        return 1
    join_shard_files(jsonl, shards)
    ctx = summary_context(merged)
    print(format_summary(name, ctx, merged["elapsed_s"], merged["rows"]), file=sys.stderr)
    print(
        f"  on {shards} shard(s), split at {split.exchange!r} by {key_text(plan.pipeline.node(split.exchange))}; "
        f"the shards took {merged['start_s']:.2f} s to start",
        file=sys.stderr,
    )
    return 0
