"""Exactly-once sinks: what they write between two checkpoints is committed with the second one.

A sink built on :class:`CommitsWithCheckpoints` writes each batch at once while checkpoints are
off. With checkpoints on it keeps what it gets until the checkpoint's barrier reaches it (see
:mod:`runtime_lib.checkpointing`), then commits all of it together with a *marker* (job, node,
lineage, checkpoint id and the sink's own state) in one transaction of its server. So what the
server holds is always exactly what the job had produced at one checkpoint, and the marker says
which.

The snapshot of checkpoint ``n`` also holds the batches each exactly-once sink was handed since
checkpoint ``n - 1``, and it is on disk before any sink commits ``n``. A job that died after one
sink committed ``n`` and before another did resumes from ``n``: the sink still at ``n - 1``
writes and commits those batches first (:meth:`CommitsWithCheckpoints.start_checkpoints`). Every
sink is then at ``n``, whatever the sources deliver after it.
"""

from __future__ import annotations

from ..errors import JobError
from .base import CommittedCheckpoint, Sink


class CommitsWithCheckpoints(Sink):
    """The commit protocol above; a subclass provides :meth:`_commit` and :meth:`_read_marker`,
    and, when it keeps state of its own, :meth:`_state_text` and :meth:`_restore_state`."""

    exactly_once = True

    def __init__(self, node_id: str, retry=None) -> None:
        super().__init__(node_id, retry)
        self._staged: list | None = None  # items kept for the next checkpoint, when checkpoints are on
        self._checkpoints: tuple[str, str] | None = None  # (job, lineage)

    def _stage_or_commit(self, items: list) -> None:
        """Keep ``items`` for the next checkpoint, or, without checkpoints, commit them now."""
        if self._staged is not None:
            self._staged.extend(items)
        else:
            self._commit(items, None)

    def committed_checkpoint(self, job: str) -> CommittedCheckpoint | None:
        """The checkpoint this sink last committed for ``job``, from its marker."""
        found = self._read_marker(job)
        if found is None:
            return None
        lineage, checkpoint, state = found
        return CommittedCheckpoint(lineage, checkpoint, state or "")

    def start_checkpoints(
        self, job: str, lineage: str, resumed: int | None, pending: list[list[dict]]
    ) -> None:
        """Keep items until each checkpoint; resuming from checkpoint ``resumed``, take back this
        sink's state, and first commit ``pending`` with it if this sink had not."""
        self._checkpoints, self._staged = (job, lineage), []
        marker = self.committed_checkpoint(job)  # also prepares where markers go, on a fresh start
        ours = marker is not None and marker.lineage == lineage
        if resumed is None:
            return
        if ours and marker.state:
            self._restore_state(marker.state)
        catch_up(self, marker.id if ours else 0, resumed, pending)

    def commit_checkpoint(self, checkpoint_id: int) -> None:
        """Commit what was kept since the last checkpoint with ``checkpoint_id``, in one transaction."""
        if self._staged is None or self._checkpoints is None:
            return
        job, lineage = self._checkpoints
        self._commit(self._staged, (job, self.node_id, lineage, checkpoint_id, self._state_text()))
        self._staged = []

    def _commit(self, items: list, marker: tuple | None) -> None:
        """Write ``items`` and, when given, ``marker`` (job, node, lineage, checkpoint, state), in
        one transaction."""
        raise NotImplementedError

    def _read_marker(self, job: str) -> tuple | None:
        """This node's marker for ``job``: (lineage, checkpoint, state)."""
        raise NotImplementedError

    def _state_text(self) -> str:
        """The sink's own state, as text kept in its marker (none by default)."""
        return ""

    def _restore_state(self, text: str) -> None:
        """Take back a state :meth:`_state_text` gave."""


def catch_up(sink: Sink, committed: int, resumed: int, pending: list[list[dict]]) -> None:
    """Bring ``sink``, which committed checkpoint ``committed``, to checkpoint ``resumed``: nothing
    to do when it is there, ``pending`` written and committed when it is one behind, else an error."""
    if committed == resumed:
        return
    if committed != resumed - 1:
        raise JobError(
            f"{sink.target or sink.node_id} holds what checkpoint {committed} committed, but the job "
            f"resumes from checkpoint {resumed}: the checkpoint folder and this sink do not belong "
            "together (run with --fresh to start again from the beginning of the input)"
        )
    for batch in pending:
        sink.write(batch)
    sink.commit_checkpoint(resumed)
