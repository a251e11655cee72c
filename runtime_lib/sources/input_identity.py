"""What a checkpoint remembers of a replayed input, so that a job never resumes on another one.

A file is known by its path, its size and the SHA-256 of its first MiB (the compressed bytes of
a ``.gz`` file); a folder of Parquet files by its path and the sorted list of its files with
their sizes. Neither reads the whole input, so taking or checking one costs a millisecond or so.
A FIFO (or anything else that is not a regular file or a folder) has no identity: what it gave
cannot be read again.
"""

from __future__ import annotations

import hashlib
import os
import stat

from .parquet_input import parquet_files

FIRST_BYTES = 1 << 20
SHOWN = 3  # files named per kind of change in a message


def file_identity(path: str, fd: int) -> dict | None:
    """The identity of the file open as ``fd`` (read without moving its offset), named ``path``;
    None when it is not a regular file."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    first = os.pread(fd, FIRST_BYTES, 0)
    return {"path": path, "size": info.st_size, "sha256_first_mib": hashlib.sha256(first).hexdigest()}


def input_identity(path: str) -> dict | None:
    """The identity of ``path`` as it is now: a folder's, a regular file's, or None."""
    if os.path.isdir(path):
        files = parquet_files(path)
        return {
            "path": path,
            "files": [(os.path.relpath(file, path), os.path.getsize(file)) for file, _ in files],
        }
    try:
        info = os.stat(path)
    except OSError:
        return {"path": path, "missing": True}
    if not stat.S_ISREG(info.st_mode):  # opening a FIFO would wait for a writer
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        return file_identity(path, fd)
    finally:
        os.close(fd)


def identity_change(saved: dict, now: dict | None) -> str | None:
    """How the input ``now`` differs from the ``saved`` one, in words; None when it is the same."""
    if now is None:
        return "it is no longer a regular file"
    if now.get("missing"):
        return "it is gone"
    if now["path"] != saved["path"]:
        return f"the checkpoint was taken reading {saved['path']}"
    if ("files" in now) != ("files" in saved):
        return "it was a file and is a folder now" if "files" in now else "it was a folder and is a file now"
    if "files" in now:
        return _folder_change(dict(saved["files"]), dict(now["files"])) or None
    if now["size"] != saved["size"]:
        return f"its size was {saved['size']:,} bytes and is {now['size']:,} now"
    if now["sha256_first_mib"] != saved["sha256_first_mib"]:
        return "its first MiB differs"
    return None


def _folder_change(saved: dict[str, int], now: dict[str, int]) -> str:
    """The files added, removed and resized between two listings of a folder."""
    kinds = (
        ("files added", sorted(set(now) - set(saved))),
        ("files removed", sorted(set(saved) - set(now))),
        ("files resized", sorted(name for name in set(now) & set(saved) if now[name] != saved[name])),
    )
    parts = []
    for kind, names in kinds:
        if names:
            more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            parts.append(f"{kind}: {', '.join(names[:SHOWN])}{more}")
    return "; ".join(parts)
