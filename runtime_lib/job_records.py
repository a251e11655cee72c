"""Reading job records back, telling a live run from a dead one, and pruning old records.

A record says ``running`` until its job ends; a run whose process has gone (killed, or its pid
reused by another process) without saying so is ``dead``. Only records written on this host
can be checked; another host's records keep the state they say.

Pruning deletes the records of runs that are not running here and were last updated more than
:data:`MAX_AGE_S` ago, keeps at most :data:`KEEP_PER_JOB` finished runs (stopped, failed or
dead) per job name, and never touches a running job's record.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .job_files import is_record_file, is_temp_file
from .job_liveness import is_running

STATES = ("running", "stopped", "failed")
MAX_AGE_S = 7 * 86_400
KEEP_PER_JOB = 20
TEMP_MAX_AGE_S = 3600  # a temporary file this old was left by a process killed mid-write
MAX_RECORD_BYTES = 1 << 22
RECORD_KEYS = (
    "job",
    "mode",
    "state",
    "pid",
    "hostname",
    "started_at",
    "updated_at",
    "uptime_s",
    "exit_code",
    "config_path",
    "config_sha256",
    "metrics",
    "totals",
    "lag_s",
    "newest_event_at",
    "last_error",
    "nodes",
    "sinks",
    "shards",
    "pid_start_ticks",
    "started_ns",
    "updated_ns",
    "format",
)
_EMPTY = {"totals": {}, "nodes": {}, "sinks": {}, "shards": []}  # shards: a job on Ray shards, each
_REQUIRED = {"job": str, "state": str, "pid": int, "started_ns": int, "updated_ns": int}


@dataclass(frozen=True)
class LoadedRecord:
    """One record file, its data, and the state of its run now (``dead`` if its process has gone)."""

    path: Path
    data: dict
    state: str

    @property
    def job(self) -> str:
        """The job's name."""
        return self.data["job"]

    def view(self) -> dict:
        """The record as ``mdp list --json`` and ``mdp status --json`` print it: every key, always.

        ``state`` is the state now; ``record_file`` is the file it was read from.
        """
        view = {key: self.data.get(key, _EMPTY.get(key)) for key in RECORD_KEYS}
        view["state"] = self.state
        view["record_file"] = str(self.path)
        return view


def _problem(data: object) -> str | None:
    """Why ``data`` is not a job record, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key, kind in _REQUIRED.items():
        if type(data.get(key)) is not kind:
            return f"no {kind.__name__} {key!r}"
    if data["state"] not in STATES:
        return f"unknown state {data['state']!r}"
    for key in ("nodes", "sinks"):
        table = data.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(row, dict) for row in table.values()):
            return f"{key!r} is not an object of objects"
    if not isinstance(data.get("totals", {}), dict):
        return "'totals' is not an object"
    return None


def state_now(data: dict, hostname: str) -> str:
    """The run's state: as recorded, except ``dead`` for a running record whose process here has gone."""
    if data["state"] != "running" or data.get("hostname") != hostname:
        return data["state"]
    start = data.get("pid_start_ticks")
    alive = is_running(data["pid"], start if type(start) is int else None)
    return "running" if alive else "dead"


def load_records(folder: Path) -> tuple[list[LoadedRecord], list[tuple[Path, str]]]:
    """Every record in ``folder`` (the state directory's ``jobs/``), and the files that are not
    records with the reason; a missing folder holds none."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [(folder, str(exc))]
    hostname = socket.gethostname()
    records, problems = [], []
    for name in names:
        if not is_record_file(name):
            continue
        path = folder / name
        try:
            with open(path, "rb") as file:
                text = file.read(MAX_RECORD_BYTES + 1)
            if len(text) > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES} bytes")
            data = json.loads(text)
        except FileNotFoundError:  # pruned or replaced since the listing
            continue
        except (OSError, ValueError) as exc:
            problems.append((path, str(exc) or type(exc).__name__))
            continue
        problem = _problem(data)
        if problem is not None:
            problems.append((path, f"not a job record ({problem})"))
            continue
        records.append(LoadedRecord(path, data, state_now(data, hostname)))
    return records, problems


def prune(records: list[LoadedRecord], now_ns: int | None = None) -> list[LoadedRecord]:
    """Delete the records that are too old or too many (see the module docstring); return the rest."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    oldest_kept = now_ns - MAX_AGE_S * 1_000_000_000
    hostname = socket.gethostname()
    finished: dict[str, list[LoadedRecord]] = defaultdict(list)
    kept, doomed = [], []
    for record in records:
        running_here = record.state == "running" and record.data.get("hostname") == hostname
        if running_here:
            kept.append(record)
        elif record.data["updated_ns"] < oldest_kept:
            doomed.append(record)  # another host's "running" record this old has no writer left
        elif record.state == "running":
            kept.append(record)  # running on another host
        else:
            finished[record.job].append(record)
    for runs in finished.values():
        runs.sort(key=lambda record: record.data["started_ns"], reverse=True)
        kept.extend(runs[:KEEP_PER_JOB])
        doomed.extend(runs[KEEP_PER_JOB:])
    for record in doomed:
        try:
            record.path.unlink(missing_ok=True)
        except OSError:  # pruning is housekeeping: a file that cannot go stays, unshown
            pass
    return kept


def remove_stale_temp_files(folder: Path, now_s: float | None = None) -> None:
    """Delete temporary files that a process killed in the middle of a write left in ``folder``."""
    now_s = time.time() if now_s is None else now_s
    try:
        entries = [entry for entry in os.scandir(folder) if is_temp_file(entry.name)]
        for entry in entries:
            if entry.stat().st_mtime < now_s - TEMP_MAX_AGE_S:
                os.unlink(entry.path)
    except OSError:
        pass


def prune_folder(folder: Path) -> None:
    """Prune the records in ``folder`` and its stale temporary files, as a job does when it starts."""
    records, _problems = load_records(folder)
    prune(records)
    remove_stale_temp_files(folder)
