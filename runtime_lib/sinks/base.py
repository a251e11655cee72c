"""The contract every sink implements, and how a sink's failure is told to the user."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import JobError
from ..retry import RetryPolicy

_URL_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#@]*@")
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|secret|token|api_key|apikey)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or the query) replaced by ``***``.

    >>> redact_url("postgresql://mdp:s3cret@db.example:5432/bars?sslmode=require")
    'postgresql://mdp:***@db.example:5432/bars?sslmode=require'
    >>> redact_url("redis://127.0.0.1:6379/0?password=hunter2")
    'redis://127.0.0.1:6379/0?password=***'
    >>> redact_url("sqlite:///mdp-data/bars.db")
    'sqlite:///mdp-data/bars.db'
    """
    return _QUERY_SECRET.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


def describe_error(error: BaseException) -> str:
    """What went wrong, for a message: a :class:`JobError`'s own text, else the exception's type and text.

    >>> describe_error(OverflowError("Python int too large to convert to SQLite INTEGER"))
    'OverflowError: Python int too large to convert to SQLite INTEGER'
    """
    if isinstance(error, JobError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def sink_failure(
    node_id: str, target: str, error: BaseException, rows_written: int | None = None
) -> JobError:
    """The error that stops a job when sink ``node_id`` fails: it names the sink, where it writes
    (``target``, without secrets) and the error, and how many rows it had written (they stay).

    >>> print(sink_failure("store", "sqlite:///x.db", OverflowError("int too large"), 3))
    sink 'store' (sqlite:///x.db) failed: OverflowError: int too large; the 3 rows it wrote before stay
    >>> print(sink_failure("out", "", JobError("cannot write: No space left on device"), 0))
    sink 'out' failed: cannot write: No space left on device; it had written no rows
    """
    where = f" ({target})" if target else ""
    if rows_written is None:
        kept = ""
    elif rows_written == 0:
        kept = "; it had written no rows"
    else:
        kept = f"; the {rows_written} rows it wrote before stay"
    return JobError(f"sink {node_id!r}{where} failed: {describe_error(error)}{kept}")


def non_record(batch: list) -> str | None:
    """Why ``batch`` cannot be written, when one of its records is not a dict; else None.

    >>> non_record([{"a": 1}, ["AAA", 1.5]])
    "record 2 of the batch is a list, not a record of named fields: ['AAA', 1.5]"
    """
    for i, record in enumerate(batch):
        if not isinstance(record, dict):
            kind = type(record).__name__
            return f"record {i + 1} of the batch is a {kind}, not a record of named fields: {record!r:.200}"
    return None


class Sink:
    """A consumer of record batches.

    ``write`` is synchronous and may block (the run loop calls it from a worker thread, one
    call at a time per sink); it returns how many rows it wrote. ``close`` flushes and releases
    resources. ``target`` says where the sink writes (a path, or a URL without its password),
    for messages.

    A ``write`` that raises an error :meth:`is_transient` says passes is called again with the
    same rows, as ``retry`` (a :class:`~runtime_lib.retry.RetryPolicy`) allows; so a write must
    leave nothing behind when it fails (one transaction) or be idempotent (upserts), and must
    reconnect by itself when its connection was lost.
    """

    target = ""
    exactly_once = False
    """Whether the sink commits what it wrote together with the checkpoint's id (see
    :mod:`runtime_lib.checkpointing`); other sinks get again, after a resume, what they were
    handed since the checkpoint resumed from."""

    def __init__(self, node_id: str, retry: RetryPolicy | None = None) -> None:
        self.node_id = node_id
        self.retry = retry or RetryPolicy(max_attempts=1)

    def start_checkpoints(
        self, job: str, lineage: str, resumed: int | None, pending: list[list[dict]]
    ) -> None:
        """From now on keep what ``write`` gets until :meth:`commit_checkpoint` commits it with an
        id of ``lineage``. ``resumed`` is the checkpoint the job resumes from (None: a fresh start),
        ``pending`` the batches this sink was handed before it, since the checkpoint before: an
        exactly-once sink that had not committed ``resumed`` commits them now."""

    def commit_checkpoint(self, checkpoint_id: int) -> None:
        """Commit everything written since the previous checkpoint together with ``checkpoint_id``."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` from :meth:`write` may pass if the write is tried again (none, here)."""
        return False

    def write(self, batch: list[dict]) -> int:
        """Write one batch and return the number of rows written."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush buffered output and release files or connections."""


@dataclass(frozen=True)
class CommittedCheckpoint:
    """A checkpoint an exactly-once sink committed: its lineage and id, and the sink's own state then."""

    lineage: str
    id: int
    state: object
