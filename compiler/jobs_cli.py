"""``mdp list`` and ``mdp status --job NAME``: the jobs recorded on this host.

Both read the records that running jobs keep in the state directory (see
:mod:`runtime_lib.job_registry`), so they import no compiler stage and start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the records are read only when a command runs, so `mdp --help` does not load them
    from runtime_lib.job_records import LoadedRecord

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
LIST_COLUMNS = ("NAME", "MODE", "STATE", "PID", "UPTIME", "IN", "OUT", "LAG", "METRICS")
LIST_ALIGN = "lllrrrrrl"
NODE_COLUMNS = ("node", "type", "in", "out", "late", "dropped", "errors", "set_aside")
NODE_ALIGN = "llrrrrrr"
SINK_COLUMNS = ("sink", "queue_depth", "rows_written")
SHARD_COLUMNS = ("shard", "state", "host", "pid", "restarts", "rows_written")
SHARD_NODE_COLUMNS = ("node", "shard", "in", "out", "late", "dropped", "errors")


def printable(text: str) -> str:
    r"""``text`` with characters a terminal would act on shown as escapes.

    >>> printable("bars\x1b[2J\n")
    'bars\\x1b[2J\\n'
    """
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text
    )


def cell(value: object) -> str:
    r"""A record value as table text: ``-`` for none.

    >>> [cell(None), cell(12), cell("a\tb")]
    ['-', '12', 'a\\tb']
    """
    return "-" if value is None else printable(str(value))


def duration_text(seconds: object) -> str:
    """A duration, short: ``12.3s``, ``1m15s``, ``1h02m``, ``1d01h``; ``-`` when unknown.

    >>> [duration_text(s) for s in (None, 0.25, 12.34, 75, 3725, 90061, -2)]
    ['-', '0.2s', '12.3s', '1m15s', '1h02m', '1d01h', '-2.0s']
    """
    if type(seconds) not in (int, float):
        return "-"
    if abs(seconds) < 60:
        return f"{seconds:.1f}s"
    sign, whole = "-" if seconds < 0 else "", int(abs(seconds))
    if whole < 3600:
        return f"{sign}{whole // 60}m{whole % 60:02d}s"
    if whole < 86_400:
        return f"{sign}{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{sign}{whole // 86_400}d{whole % 86_400 // 3600:02d}h"


def table(header: tuple[str, ...], rows: list[tuple[str, ...]], align: str, indent: str = "") -> str:
    """Rows under a header, each column as wide as its widest cell; ``align`` is l or r per column.

    >>> print(table(("NAME", "IN"), [("bars", "12"), ("ticks", "3")], "lr"))
    NAME   IN
    bars   12
    ticks   3
    """
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [text.ljust(w) if a == "l" else text.rjust(w) for text, w, a in zip(row, widths, align)]
        lines.append(indent + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _read(prune_old: bool) -> tuple[list[LoadedRecord], Path]:
    """The records in the state directory, and the directory; files that are not records are
    skipped with a warning each."""
    from runtime_lib.job_files import jobs_dir, state_dir
    from runtime_lib.job_records import load_records, prune

    root = state_dir()
    records, problems = load_records(jobs_dir(root))
    for path, reason in problems:
        typer.echo(f"warning: skipped {printable(str(path))}: {printable(reason)}", err=True)
    return (prune(records) if prune_old else records), root


def _started(record: LoadedRecord) -> int:
    return record.data["started_ns"]


def _newest_runs(records: list[LoadedRecord]) -> list[LoadedRecord]:
    newest: dict[str, LoadedRecord] = {}
    for record in records:
        if record.job not in newest or _started(record) > _started(newest[record.job]):
            newest[record.job] = record
    return list(newest.values())


def _list_row(record: LoadedRecord) -> tuple[str, ...]:
    data, totals = record.data, record.data.get("totals", {})
    return (
        printable(record.job),
        cell(data.get("mode")),
        record.state,
        cell(data["pid"]),
        duration_text(data.get("uptime_s")),
        cell(totals.get("events_in")),
        cell(totals.get("events_out")),
        duration_text(data.get("lag_s")),
        cell(data.get("metrics")),
    )


def list_command(
    json_output: JsonOption = False,
    all_runs: Annotated[
        bool, typer.Option("--all", help="every recorded run, not only the newest of each job")
    ] = False,
) -> None:
    """Show the jobs on this host: the newest run of each job name, its state and counters.

    STATE: running, stopped, failed, or dead (its process ended without saying so).
    IN: records the sources delivered. OUT: records that reached the sinks.
    LAG: how far the slowest source's newest event time is behind the clock.
    Runs older than 7 days, and beyond the 20 newest finished runs of a job, are forgotten.
    """
    records, root = _read(prune_old=True)
    shown = sorted(records if all_runs else _newest_runs(records), key=lambda r: (r.job, -_started(r)))
    if json_output:
        typer.echo(json.dumps([record.view() for record in shown], indent=2))
    elif not shown:
        typer.echo(f"no jobs recorded in {printable(str(root))}")
    else:
        typer.echo(table(LIST_COLUMNS, [_list_row(record) for record in shown], LIST_ALIGN))


def _node_rows(nodes: dict) -> list[tuple[str, ...]]:
    return [
        (printable(node_id), cell(row.get("type")), *(cell(row.get(key)) for key in NODE_COLUMNS[2:]))
        for node_id, row in nodes.items()
    ]


def status_text(record: LoadedRecord) -> str:
    """What ``mdp status`` prints about one run: its facts, then tables of its nodes and sinks."""
    data, totals = record.data, record.data.get("totals", {})
    sha = f" (sha256 {cell(data.get('config_sha256'))})" if data.get("config_sha256") else ""
    lag = duration_text(data.get("lag_s"))
    if data.get("newest_event_at"):
        lag += f" (newest event of the slowest source: {cell(data['newest_event_at'])})"
    facts = (
        ("pid", f"{cell(data['pid'])} on {cell(data.get('hostname'))}"),
        ("started", f"{cell(data.get('started_at'))}, uptime {duration_text(data.get('uptime_s'))}"),
        ("updated", cell(data.get("updated_at"))),
        ("config", cell(data.get("config_path")) + sha),
        ("metrics", cell(data.get("metrics"))),
        ("exit code", cell(data.get("exit_code"))),
        ("last error", cell(data.get("last_error"))),
        (
            "events",
            f"in {cell(totals.get('events_in'))}, out {cell(totals.get('events_out'))}, "
            f"rows written {cell(totals.get('rows_written'))}",
        ),
        ("lag", lag),
        ("record", printable(str(record.path))),
    )
    mode = f" ({cell(data.get('mode'))})" if data.get("mode") else ""
    lines = [f"job {printable(repr(record.job))}{mode}: {record.state}"]
    lines += [f"  {label:<11}{value}" for label, value in facts]
    nodes, sinks = data.get("nodes", {}), data.get("sinks", {})
    if nodes:
        lines += ["", table(NODE_COLUMNS, _node_rows(nodes), NODE_ALIGN, "  ")]
        for node_id, row in nodes.items():
            reasons = row.get("set_aside_reasons")
            for reason, count in sorted(reasons.items() if isinstance(reasons, dict) else ()):
                lines.append(
                    f"  set aside by {printable(repr(node_id))}: {cell(count)} ({printable(reason)})"
                )
    if sinks:
        rows = [
            (printable(i), cell(s.get("queue_depth")), cell(s.get("rows_written"))) for i, s in sinks.items()
        ]
        lines += ["", table(SINK_COLUMNS, rows, "lrr", "  ")]
    shards = data.get("shards")
    if isinstance(shards, list) and shards:
        lines += ["", *_shard_tables(shards)]
    return "\n".join(lines)


def _shard_tables(shards: list) -> list[str]:
    """A job on Ray shards: each shard's state, then each node's counters on each shard."""
    shards = [shard for shard in shards if isinstance(shard, dict)]
    rows = [tuple(cell(shard.get(key)) for key in SHARD_COLUMNS) for shard in shards]
    per_node = []
    for shard in shards:
        nodes = shard.get("nodes") if isinstance(shard.get("nodes"), dict) else {}
        for node_id, counts in nodes.items():
            counts = counts if isinstance(counts, list) else []
            per_node.append((printable(node_id), cell(shard.get("shard")), *(cell(c) for c in counts[:5])))
    per_node.sort(key=lambda row: row[0])
    return [
        table(SHARD_COLUMNS, rows, "llllrr", "  "),
        "",
        table(SHARD_NODE_COLUMNS, per_node, "lrrrrrr", "  "),
    ]


def status_command(
    job: Annotated[
        str,
        typer.Option(
            "--job", "--job-name", help="the job's name, as `mdp list` shows it", show_default=False
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Show the newest run of a job on this host: its state, config, metrics and errors, then its counters.

    Per node: records in and out, late, dropped, errors and set aside; per sink: queue depth and rows written.
    """
    records, root = _read(prune_old=False)
    runs = [record for record in records if record.job == job]
    if not runs:
        known = sorted({record.job for record in records})
        where = f"jobs: {', '.join(known)}" if known else f"no jobs recorded in {root}"
        typer.echo(f"error: no job named {printable(repr(job))} on this host ({printable(where)})", err=True)
        raise typer.Exit(1)
    newest = max(runs, key=_started)
    typer.echo(json.dumps(newest.view(), indent=2) if json_output else status_text(newest))
