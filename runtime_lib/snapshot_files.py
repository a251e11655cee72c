"""Snapshot files: one checkpoint of a job, written atomically and checked when read back.

A job's snapshots live in ``<checkpoint dir>/<job name>/`` (the folder is created with mode
0700). Each is ``<lineage>-<id:012d>.snapshot``: ``lineage`` is drawn when a job starts without
a checkpoint to resume (a run and the runs that resume it share it), ``id`` counts the
checkpoints of the lineage from 1. A file is three parts:

1. the line ``mdp snapshot 1``;
2. one line of JSON, the header: job, lineage, id, when it was taken, the Python version, the
   sha256 and size of the payload, and what ``mdp state show`` prints (per node its type and a
   summary, per source its position);
3. the payload: ``marshal`` of ``{"nodes": {node id: state}, "sources": {node id: position},
   "stats": {node id: counters}}``.

It is written to a hidden temporary name in the folder, synced, renamed into place and the
folder synced, so a crash leaves either the whole file or none. Reading checks the header and
the payload's sha256 before ``marshal.loads`` sees a byte: a truncated or altered file is a
clear error, never a crash. ``marshal`` keeps ints, floats (every bit), strings, tuples and
shared references exactly, and builds only plain values (no code runs on loading).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import JobError

MAGIC = b"mdp snapshot 1\n"
SUFFIX = ".snapshot"
MARSHAL_VERSION = 4
_NAME = re.compile(r"^(?P<lineage>[0-9a-f]{16})-(?P<id>\d{12})\.snapshot$")
MAX_HEADER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SnapshotFile:
    """One snapshot on disk: its path, lineage and id."""

    path: Path
    lineage: str
    id: int


def job_folder(checkpoint_dir: str | Path, job: str) -> Path:
    """The folder of ``job``'s snapshots below ``checkpoint_dir``."""
    return Path(checkpoint_dir) / job


def snapshot_files(folder: Path) -> list[SnapshotFile]:
    """The snapshots in ``folder``, oldest first (by lineage file time, then id); none if it is missing."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JobError(f"cannot read the checkpoint folder {folder}: {exc.strerror}") from None
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            found.append(SnapshotFile(folder / name, match["lineage"], int(match["id"])))
    return sorted(found, key=lambda f: (_mtime(f.path), f.id))


def _mtime(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_mtime_ns
    return 0


def marshalled(payload: dict) -> bytes:
    """``payload`` as the bytes of a snapshot; a value marshal cannot save is a :class:`JobError`.

    Call it at once, on the thread that runs the pipeline: the payload shares the operators'
    live structures, and the bytes are what the snapshot holds.
    """
    try:
        return marshal.dumps(payload, MARSHAL_VERSION)
    except ValueError as exc:
        raise JobError(f"a checkpoint's state holds a value that cannot be saved ({exc})") from None


def write_snapshot(folder: Path, lineage: str, snapshot_id: int, header: dict, data: bytes) -> SnapshotFile:
    """Write one snapshot (``data`` from :func:`marshalled`) atomically and return it."""
    header = {
        **header,
        "lineage": lineage,
        "id": snapshot_id,
        "python": list(sys.version_info[:2]),
        "payload_bytes": len(data),
        "payload_sha256": hashlib.sha256(data).hexdigest(),
    }
    text = json.dumps(header, sort_keys=True, default=str).encode("utf-8") + b"\n"
    target = folder / f"{lineage}-{snapshot_id:012d}{SUFFIX}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{target.name}.tmp"
        with open(temporary, "wb") as out:
            out.write(MAGIC + text + data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise JobError(f"cannot write checkpoint {snapshot_id} to {folder}: {exc.strerror or exc}") from None
    return SnapshotFile(target, lineage, snapshot_id)


def read_header(path: Path) -> dict:
    """The header of the snapshot at ``path`` (without reading the payload)."""
    return _read(path, payload=False)[0]


def read_snapshot(path: Path) -> tuple[dict, dict]:
    """The header and payload of the snapshot at ``path``, checked; a bad file is a :class:`JobError`."""
    header, payload = _read(path, payload=True)
    return header, payload


def _read(path: Path, payload: bool) -> tuple[dict, dict]:
    def bad(why: str) -> JobError:
        return JobError(
            f"checkpoint file {path} is damaged: {why}; remove it (mdp state clear) or run with --fresh"
        )

    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise bad("it does not start as an mdp snapshot does")
            line = f.readline(MAX_HEADER_BYTES)
            data = f.read() if payload else b""
    except OSError as exc:
        raise JobError(f"cannot read checkpoint file {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise bad("its header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("payload_sha256"), str):
        raise bad("its header lacks the payload's checksum")
    if not payload:
        return header, {}
    if (
        len(data) != header.get("payload_bytes")
        or hashlib.sha256(data).hexdigest() != header["payload_sha256"]
    ):
        raise bad("its payload does not match the checksum in its header (a truncated or altered file)")
    if tuple(header.get("python", ())) != tuple(sys.version_info[:2]):
        raise JobError(
            f"checkpoint file {path} was written by Python {'.'.join(map(str, header.get('python', ())))}, "
            f"this is Python {sys.version_info[0]}.{sys.version_info[1]}: resume with that version, or --fresh"
        )
    try:
        body = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        raise bad("its payload cannot be read") from None
    if not isinstance(body, dict):
        raise bad("its payload is not a snapshot")
    return header, body


def remove_snapshots(files: list[SnapshotFile]) -> None:
    """Delete ``files`` (those already gone are fine)."""
    for snapshot in files:
        with contextlib.suppress(FileNotFoundError):
            snapshot.path.unlink()


def clear_folder(folder: Path) -> int:
    """Delete every snapshot (and leftover temporary file) of the folder; return how many snapshots."""
    files = snapshot_files(folder)
    remove_snapshots(files)
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(".") and name.endswith(".tmp"):
                (folder / name).unlink()
        folder.rmdir()
    return len(files)
