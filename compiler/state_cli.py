"""``mdp state show JOB`` and ``mdp state clear JOB``: a job's checkpoints, read without running it.

Both look in ``--checkpoint-dir`` (default ``<state dir>/checkpoints``, the folder a job uses when
its config names none) and read only the snapshots' headers, so they start fast and never load
what a snapshot holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from .jobs_cli import JsonOption, cell, table

state_app = typer.Typer(help="Show or remove the checkpoints of a job.", no_args_is_help=True)
JobArgument = Annotated[str, typer.Argument(help="the job's name", show_default=False)]
DirOption = Annotated[
    Path | None,
    typer.Option("--checkpoint-dir", help="the checkpoint folder (default: <state dir>/checkpoints)"),
]


def _folder(job: str, checkpoint_dir: Path | None) -> Path:
    from runtime_lib.job_files import state_dir
    from runtime_lib.snapshot_files import job_folder

    if "/" in job or job in ("", ".", ".."):
        raise typer.BadParameter(f"not a job name: {job!r}", param_hint="JOB")
    return job_folder(checkpoint_dir or state_dir() / "checkpoints", job)


@state_app.command("show")
def show(job: JobArgument, checkpoint_dir: DirOption = None, as_json: JsonOption = False) -> None:
    """What the job's newest snapshot holds: nodes, keys, open windows, source positions, size."""
    from runtime_lib.errors import JobError
    from runtime_lib.snapshot_files import read_header, snapshot_files

    folder = _folder(job, checkpoint_dir)
    try:
        files = snapshot_files(folder)
        if not files:
            typer.echo(f"job {job!r} has no checkpoint in {folder}", err=True)
            raise typer.Exit(1)
        newest = files[-1]
        header = read_header(newest.path)
    except JobError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    size = newest.path.stat().st_size
    if as_json:
        typer.echo(json.dumps({"path": str(newest.path), "bytes": size, **header}, indent=2, sort_keys=True))
        return
    taken = datetime.fromtimestamp(header.get("taken_at_ns", 0) / 1e9, UTC).isoformat(timespec="seconds")
    typer.echo(f"job {cell(job)}: checkpoint {newest.id} of lineage {newest.lineage}, taken {taken}")
    typer.echo(f"  file {cell(newest.path)} ({size:,} bytes); {len(files)} snapshot(s) kept")
    nodes = header.get("nodes", {})
    if nodes:
        names = sorted({name for summary in nodes.values() for name in summary if name != "type"})
        rows = [
            (cell(node_id), cell(summary.get("type")), *(cell(summary.get(name)) for name in names))
            for node_id, summary in nodes.items()
        ]
        typer.echo(table(("node", "type", *names), rows, "ll" + "r" * len(names), indent="  "))
    for source_id, position in header.get("sources", {}).items():
        shown = (
            "none (its data cannot be replayed)" if position is None else json.dumps(position, default=str)
        )
        typer.echo(f"  source {cell(source_id)}: position {cell(shown)}")


@state_app.command("clear")
def clear(job: JobArgument, checkpoint_dir: DirOption = None) -> None:
    """Remove the job's snapshots: its next run starts from the beginning of its input."""
    from runtime_lib.errors import JobError
    from runtime_lib.snapshot_files import clear_folder

    folder = _folder(job, checkpoint_dir)
    try:
        removed = clear_folder(folder)
    except (JobError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"removed {removed} snapshot(s) of job {job!r} from {folder}")
