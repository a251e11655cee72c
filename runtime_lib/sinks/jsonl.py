"""Write records as JSON Lines: one compact JSON object per line, to a file or stdout.

With checkpoints, a file is committed at each checkpoint: it is synced, and the length it then
has is written, with the checkpoint's id, to ``<path>.mdp-checkpoint`` (a temporary file synced
and renamed into place). A job that resumes cuts the file back to the length of the checkpoint
it resumes from and writes on from there, so the file never holds a line twice.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import IO

from ..errors import JobError
from .base import CommittedCheckpoint, Sink, non_record
from .checkpoint_commits import catch_up

STDOUT = "-"
MARKER_SUFFIX = ".mdp-checkpoint"
_encode = json.JSONEncoder(separators=(",", ":")).encode


class JsonlSink(Sink):
    """Append each batch to ``path`` (``"-"`` is standard output, which is left open).

    A file is created (with its folders) when the sink is, and emptied before the first batch
    is written (resuming from a checkpoint: cut back to that checkpoint's length); it is flushed
    after every batch so complete batches survive a crash. A batch holding something other
    than a record (a plugin that returned a list) is refused whole, and the job stops.
    """

    def __init__(self, node_id: str, *, path: str) -> None:
        super().__init__(node_id)
        self.path = str(path)
        self.target = "stdout" if self.path == STDOUT else self.path
        self.exactly_once = False  # a regular file is, once it is open
        self.marker_path = Path(f"{self.path}{MARKER_SUFFIX}")
        self._file: IO[str] | None = None
        self._started = self.path == STDOUT  # a file is cut to its start (or its checkpoint) once
        self._checkpoints: tuple[str, str] | None = None
        if self.path != STDOUT:
            target = Path(self.path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._file = os.fdopen(os.open(target, os.O_RDWR | os.O_CREAT, 0o666), "w", encoding="utf-8")
                regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
            except OSError as exc:
                raise JobError(f"{self.path}: cannot open for writing: {exc.strerror or exc}") from None
            # a device or a pipe is written as it is: it cannot be cut back, nor be exactly once
            self.exactly_once, self._started = regular, not regular

    def committed_checkpoint(self, job: str) -> CommittedCheckpoint | None:
        """The checkpoint the file was last committed with (its length is the state), from its marker file."""
        try:
            marker = json.loads(self.marker_path.read_text(encoding="utf-8"))
            if marker.get("job") != job or marker.get("node") != self.node_id:
                return None
            return CommittedCheckpoint(
                str(marker["lineage"]), int(marker["checkpoint"]), int(marker["length"])
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JobError(f"cannot read {self.marker_path}: {exc}; remove it and run with --fresh") from None

    def start_checkpoints(
        self, job: str, lineage: str, resumed: int | None, pending: list[list[dict]]
    ) -> None:
        """Cut the file back to the length it was committed with (the start on a fresh run); if that
        was the checkpoint before ``resumed``, write ``pending`` and commit ``resumed`` now."""
        self._checkpoints = (job, lineage)
        if not self.exactly_once:
            return
        marker = self.committed_checkpoint(job) if resumed is not None else None
        ours = marker is not None and marker.lineage == lineage
        self._cut(marker.state if ours else 0)
        if resumed is not None:
            catch_up(self, marker.id if ours else 0, resumed, pending)

    def commit_checkpoint(self, checkpoint_id: int) -> None:
        """Sync the file and record its length with ``checkpoint_id`` in the marker file."""
        if not self.exactly_once or self._checkpoints is None:
            return
        self._cut(0)  # nothing written since the start: the file is empty
        job, lineage = self._checkpoints
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            marker = {
                "job": job,
                "node": self.node_id,
                "lineage": lineage,
                "checkpoint": checkpoint_id,
                "length": self._file.tell(),
            }
            temporary = self.marker_path.with_name(f".{self.marker_path.name}.tmp")
            with open(temporary, "w", encoding="utf-8") as out:
                out.write(json.dumps(marker) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.marker_path)
        except OSError as exc:
            raise JobError(f"cannot commit checkpoint {checkpoint_id}: {exc.strerror or exc}") from None

    def _cut(self, length: int) -> None:
        """The first time only: cut the file to ``length`` and write on from there."""
        if self._started or self._file is None:
            return
        self._started = True
        try:
            self._file.seek(length)
            self._file.truncate()
        except OSError as exc:
            raise JobError(f"{self.path}: cannot cut back to {length} bytes: {exc.strerror or exc}") from None

    def write(self, batch: list[dict]) -> int:
        """Write one line per record and return the number of lines written."""
        refused = non_record(batch)
        if refused:
            raise JobError(refused)
        text = "".join(_encode(record) + "\n" for record in batch)
        self._cut(0)
        stream = sys.stdout if self._file is None else self._file
        try:
            stream.write(text)
            stream.flush()
        except OSError as exc:
            self._abandon_stdout()
            raise JobError(f"cannot write: {exc.strerror or exc}") from None
        return len(batch)

    def close(self) -> None:
        """Flush standard output, or close the file."""
        self._cut(0)  # a job that wrote nothing leaves an empty file
        try:
            if self._file is None:
                sys.stdout.flush()
            elif not self._file.closed:
                self._file.close()
        except OSError as exc:
            self._abandon_stdout()
            raise JobError(f"cannot write: {exc.strerror or exc}") from None

    def _abandon_stdout(self) -> None:
        """After standard output failed (a closed pipe, a full disk), point it at the null device,
        so that flushing the text it still buffers, when Python exits, does not fail again."""
        if self._file is not None:
            return  # a file is closed by close(), which drops what it could not write
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)
