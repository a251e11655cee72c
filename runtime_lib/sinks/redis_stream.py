"""Write records to a Redis stream (XADD), one pipeline per batch; and what both ends of a Redis
stream share: loading the client library, connecting, and telling passing errors from lasting ones.

Delivery is at least once. A batch is sent as one pipeline without a transaction, so when the
connection drops during a write, the entries before the failure may already be in the stream;
the write is then tried again whole (as ``retry`` allows) and those entries appear twice. The
records carry their own identity (``symbol``, ``ts``), which is what an idempotent store
downstream keys on.
"""

from __future__ import annotations

import json

from ..errors import JobError
from ..redis_codec import RecordEncodingError, encode_record
from ..retry import RetryPolicy
from .base import non_record, redact_url
from .checkpoint_commits import CommitsWithCheckpoints

CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0
TRANSIENT_REPLIES = ("LOADING", "MASTERDOWN", "TRYAGAIN")
"""Error replies of a server that is starting, failing over or resharding: they pass."""


def load_redis():
    """The ``redis`` client library (the ``redis`` extra), imported when a job first talks to Redis."""
    try:
        import redis
    except ImportError:
        raise JobError(
            "the Redis stream nodes need the redis client library: pip install 'mdp[redis]'"
        ) from None
    return redis


def is_transient_redis_error(error: BaseException) -> bool:
    """Whether ``error`` from the Redis client may pass when the command is sent again: a lost or
    refused connection, a timeout, or a server that is loading its data, has no master or asks to
    try again.

    >>> is_transient_redis_error(ConnectionRefusedError(111, "Connection refused"))
    True
    >>> is_transient_redis_error(ValueError("bad value"))
    False
    """
    redis = load_redis()
    refused = (redis.AuthenticationError, redis.exceptions.AuthorizationError)
    if isinstance(error, refused):  # a wrong password stays wrong (these are ConnectionErrors too)
        return False
    passing = (OSError, TimeoutError, redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError too
    if isinstance(error, passing + (redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError)):
        return True
    return isinstance(error, redis.ResponseError) and str(error).startswith(TRANSIENT_REPLIES)


def client_options(redis, socket_timeout: float | None) -> dict:
    """Keyword arguments of ``Redis.from_url`` for mdp's clients: bytes in and out, timeouts, and
    no retries inside the client (the sink's ``retry`` and the source's reconnects decide)."""
    return {
        "decode_responses": False,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout,
        "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    }


def stream_target(url: str, stream: str) -> str:
    """Where a Redis stream node reads or writes, for messages (without the password).

    >>> stream_target("redis://:hunter2@127.0.0.1:6379/0", "ticks")
    'redis://:***@127.0.0.1:6379/0 stream ticks'
    """
    return f"{redact_url(url)} stream {stream}"


class RedisStreamSink(CommitsWithCheckpoints):
    """Append each record to ``stream`` as one entry (see :mod:`runtime_lib.redis_codec`).

    ``maxlen`` trims the stream to about that many entries as it writes (``XADD MAXLEN ~``: Redis
    trims whole internal nodes, so a few more may stay). The connection opens on the first write;
    after a failure it is dropped and opened again by the next write.

    With checkpoints on, the entries of each checkpoint are added in one ``MULTI``/``EXEC``
    transaction together with the checkpoint's marker, kept in the key ``<stream>:mdp-checkpoint:
    <job>:<node>`` (see :mod:`.checkpoint_commits`): a resumed job adds none of them twice.
    """

    def __init__(
        self,
        node_id: str,
        *,
        url: str,
        stream: str,
        maxlen: int | None = None,
        retry: dict | None = None,
    ) -> None:
        super().__init__(node_id, RetryPolicy.from_params(retry))
        if not stream:
            raise JobError("the stream name is empty")
        if maxlen is not None and maxlen < 1:
            raise JobError(f"maxlen must be at least 1, got {maxlen}")
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.target = stream_target(url, stream)
        self._redis = load_redis()
        self._client = None

    def is_transient(self, error: BaseException) -> bool:
        """A lost connection, a timeout or a server that is loading or failing over passes."""
        return is_transient_redis_error(error)

    def _connection(self):
        if self._client is None:
            try:
                self._client = self._redis.Redis.from_url(
                    self.url, **client_options(self._redis, COMMAND_TIMEOUT_S)
                )
            except ValueError as exc:  # a url the client cannot read
                raise JobError(f"bad Redis url {redact_url(self.url)!r}: {exc}") from None
        return self._client

    def write(self, batch: list[dict]) -> int:
        """Send the batch as one pipeline of XADDs (or keep it for the next checkpoint); return its size."""
        refused = non_record(batch)
        if refused:
            raise JobError(refused)
        entries = []
        for number, record in enumerate(batch, 1):
            try:
                entries.append(encode_record(record))
            except RecordEncodingError as exc:
                raise JobError(f"record {number} of the batch: {exc}; record: {record!r:.200}") from None
        self._stage_or_commit(entries)
        return len(entries)

    def _commit(self, entries: list[dict], marker: tuple | None) -> None:
        """XADD ``entries``; with a checkpoint ``marker``, in one transaction that also sets it."""
        pipeline = self._connection().pipeline(transaction=marker is not None)
        for fields in entries:
            pipeline.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        if marker is not None:
            job, node, *values = marker
            pipeline.set(self._marker_key(job), json.dumps(values))
        try:
            pipeline.execute()
        except Exception:
            self._drop_connection()
            raise

    def _read_marker(self, job: str) -> tuple | None:
        """The checkpoint marker of this node for ``job``, from its key (None when missing)."""
        try:
            text = self._connection().get(self._marker_key(job))
        except Exception:
            self._drop_connection()
            raise
        if text is None:
            return None
        try:
            lineage, checkpoint, state = json.loads(text)
            return str(lineage), int(checkpoint), str(state)
        except (ValueError, TypeError):
            raise JobError(f"the key {self._marker_key(job)!r} does not hold a checkpoint marker") from None

    def _marker_key(self, job: str) -> str:
        return f"{self.stream}:mdp-checkpoint:{job}:{self.node_id}"

    def _drop_connection(self) -> None:
        """Forget the client (and its sockets), so that the next write connects afresh."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # the connection is broken already; nothing is lost by not closing it
                pass

    def close(self) -> None:
        """Release the connection."""
        self._drop_connection()
