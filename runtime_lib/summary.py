"""The short report printed when a job ends."""

from __future__ import annotations

from .context import BuildContext


def format_summary(job_name: str, ctx: BuildContext, elapsed_s: float, rows_written: dict[str, int]) -> str:
    """A table of events in/out, late, dropped, errors and set-aside records per node, the reasons
    records were set aside, rows written, and elapsed time."""
    header = ("node", "type", "in", "out", "late", "dropped", "errors", "set_aside")
    rows = [header]
    for stats in ctx.node_stats.values():
        rows.append(
            (
                repr(stats.node_id),
                stats.node_type,
                str(stats.events_in),
                str(stats.events_out),
                str(stats.late),
                str(stats.dropped),
                str(stats.errors),
                str(stats.set_aside_total),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"job {job_name!r} finished in {elapsed_s:.2f} s"]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:])]
        lines.append("  " + "  ".join(cells).rstrip())
    for stats in ctx.node_stats.values():
        for reason, count in sorted(stats.set_aside.items()):
            lines.append(f"  set aside by {stats.node_id!r}: {count} ({reason})")
    for node_id, count in rows_written.items():
        lines.append(f"  rows written by {node_id!r}: {count}")
    return "\n".join(lines)


def nodes_that_refused_everything(ctx: BuildContext) -> list[str]:
    """Ids of the nodes that received records and set every one of them aside (errors and bad
    data), so that the job can say so and exit non-zero instead of reporting success."""
    found = []
    for stats in ctx.node_stats.values():
        refused = stats.errors + stats.set_aside_total
        received = stats.events_in if stats.events_in else stats.events_out + stats.set_aside_total
        if refused and refused >= received and stats.events_out == 0:
            found.append(stats.node_id)
    return found
