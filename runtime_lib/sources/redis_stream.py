"""Read records from a Redis stream, alone (XREAD) or as a consumer of a consumer group (XREADGROUP).

**Alone** the source reads from ``start``: ``earliest`` (the stream's first entry) or ``latest``
(entries added after the job starts); nothing is kept in Redis, so a restarted job starts there
again.

**In a group** every entry goes to one consumer of the group, and stays *pending* for it until
it is acknowledged (XACK). The source acknowledges a batch only once the job's sinks have
written what the batch became (:mod:`runtime_lib.acks` decides when), so an entry is lost
neither when this job dies nor when Redis restarts: delivery is at least once. When it starts,
the source first takes over (XAUTOCLAIM) the entries other consumers of the group left pending
for longer than ``claim_idle`` (a consumer that died), then re-reads every entry pending for
itself (a restart under the same consumer name), then reads new entries. The group is created
when missing (with the stream, MKSTREAM) at the stream's beginning; ``start: earliest`` or
``latest`` moves the group there when the job starts, ``start: group`` (the default) goes on
from the group's last delivered entry.

A lost connection, a timeout or a server that is loading its data is waited out: the source
reconnects after a backoff as ``retry`` allows (``max_attempts`` failed attempts in a row stop
the job), and, in a group, first re-reads the entries pending for itself past the last one it
delivered, which are those a lost reply carried. An entry that is not an encoded record (see
:mod:`runtime_lib.redis_codec`), or that was trimmed from the stream while pending, is set
aside, counted and acknowledged.

**Resuming from a checkpoint.** :meth:`RedisStreamSource.position` is the id of the last entry
read (its record handed on in the last batch, or set aside), as text. A fresh source told
:meth:`RedisStreamSource.resume_at` that id reads, alone, the entries after it (``start`` no
longer applies). In a group it does not move the group (nor create it anywhere but at that id
when it is missing) and takes over no other consumer's entries: it reads the entries pending
for itself with an id after the position, then new ones. Entries up to the position that are
still pending for the consumer were handed on before the checkpoint; acknowledging them is the
caller's part.
"""

from __future__ import annotations

import asyncio
import logging
import re

from ..errors import JobError
from ..log_format import lifecycle
from ..redis_codec import RecordDecodingError, decode_record
from ..retry import RetryPolicy
from ..sinks.base import describe_error
from ..sinks.redis_stream import (
    COMMAND_TIMEOUT_S,
    client_options,
    is_transient_redis_error,
    load_redis,
    stream_target,
)
from .base import DEFAULT_BATCH_SIZE, Source, check_batch_size

log = logging.getLogger("mdp.job")
STARTS = ("earliest", "latest", "group")
DEFAULT_BLOCK_MS = 1000
DEFAULT_CLAIM_IDLE_MS = 30_000
ACK_CHUNK = 10_000  # ids per XACK
FIRST_ID = b"0-0"
NOT_A_RECORD = "not an encoded record"
TRIMMED = "trimmed from the stream while pending"
ENTRY_ID = re.compile(r"[0-9]+-[0-9]+")


class RedisStreamSource(Source):
    """Yield batches of records read from ``stream`` at ``url`` (see the module docstring).

    With a ``group``, :meth:`batch_token` names the entries of the batch just yielded and
    :meth:`acknowledge` acknowledges them; without one there is nothing to acknowledge.
    """

    live = True

    def __init__(
        self,
        node_id: str,
        *,
        url: str,
        stream: str,
        group: str | None = None,
        consumer: str | None = None,
        start: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        block_ms: int = DEFAULT_BLOCK_MS,
        claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
        retry: dict | None = None,
    ) -> None:
        super().__init__(node_id)
        start = start or ("group" if group else "latest")
        if start not in STARTS:
            raise JobError(f"{node_id}: start must be one of {', '.join(STARTS)}, not {start!r}")
        if (group is None) != (consumer is None):
            raise JobError(f"{node_id}: give both a group and a consumer name, or neither")
        if start == "group" and group is None:
            raise JobError(f"{node_id}: start: group needs a consumer group")
        self.url, self.stream, self.group, self.consumer, self.start = url, stream, group, consumer, start
        self.batch_size = check_batch_size(batch_size)
        self.block_ms, self.claim_idle_ms = int(block_ms), int(claim_idle_ms)
        self.retry = RetryPolicy.from_params(retry)
        self.target = stream_target(url, stream)
        self._redis = load_redis()
        self._client = None
        self._closed = False
        self._failing = ""  # the error being waited out, in words ("" when reading works)
        self._phase = "claim" if group else "read"  # group: claim -> own -> new
        self._cursor = FIRST_ID  # where the phase goes on: an entry id, or XAUTOCLAIM's cursor
        self._last_read = FIRST_ID  # the newest entry read in the group: ids only grow as it reads
        self._batch_ids: list[bytes] = []  # the ids of the records of the batch last yielded
        self._started = False  # whether the cursor is known (after _prepare, or resume_at)
        self._resumed = False  # whether resume_at set where to go on

    # -- the connection --

    def _connection(self):
        if self._client is None:
            options = client_options(self._redis, self.block_ms / 1000 + COMMAND_TIMEOUT_S)
            try:
                client = self._redis.asyncio.Redis.from_url(self.url, **options)
            except ValueError as exc:
                raise JobError(f"bad Redis url: {exc}") from None
            client.set_response_callback("XAUTOCLAIM", lambda response, **options: response)
            self._client = client
        return self._client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # the connection is broken already
                pass

    def readiness(self) -> str | None:
        """Why the source cannot read now (the error it is waiting out), or None."""
        return f"{self.target}: {self._failing}" if self._failing else None

    async def _attempt(self, step):
        """Run ``step()`` (one round trip or a few); after a passing error, reconnect and run it
        again as :attr:`retry` allows. Returns None once the source is closed."""
        attempt = 1
        while not self._closed:
            try:
                result = await step()
            except Exception as exc:
                if self._closed:
                    return None
                if not is_transient_redis_error(exc) or attempt >= self.retry.max_attempts:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise JobError(
                        f"provider {self.node_id!r} ({self.target}) failed: {describe_error(exc)}{tries}"
                    ) from None
                wait = self.retry.backoff_s(attempt)
                self._failing = (
                    f"{describe_error(exc)}; attempt {attempt + 1}/{self.retry.max_attempts} in {wait:g} s"
                )
                log.warning("provider %r (%s): %s", self.node_id, self.target, self._failing)
                await self._disconnect()
                await asyncio.sleep(wait)
                if self._phase == "new":  # a lost reply's entries are pending for us past the last one
                    self._phase, self._cursor = "own", self._last_read
                attempt += 1
                continue
            if self._failing:
                lifecycle("reconnect", f"{self.node_id}: reading {self.target} again", node=self.node_id)
                self._failing = ""
            return result
        return None

    # -- reading --

    async def batches(self):
        """Prepare the group (or the start), then yield batches until :meth:`close`."""
        await self._attempt(self._prepare)
        where = f" as consumer {self.consumer!r} of group {self.group!r}" if self.group else ""
        lifecycle("connect", f"{self.node_id}: reading {self.target}{where}", node=self.node_id)
        while not self._closed:
            entries = await self._attempt(self._read)
            records = await self._decode(entries or [])
            if records:
                yield records

    async def _prepare(self) -> None:
        client = self._connection()
        if self.group is None:
            if self.start == "latest" and not self._resumed:
                newest = await client.xrevrange(self.stream, count=1)
                self._cursor = newest[0][0] if newest else FIRST_ID
            self._started = True
            return
        position = self._cursor if self._resumed else {"latest": "$", "earliest": "0"}.get(self.start, "0")
        try:
            await client.xgroup_create(self.stream, self.group, id=position, mkstream=True)
        except self._redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
            if self.start != "group" and not self._resumed:
                await client.xgroup_setid(self.stream, self.group, id=position)

    async def _read(self) -> list:
        """One read of the current phase: a list of (id, fields) entries, possibly empty."""
        client = self._connection()
        try:
            if self._phase == "read":
                reply = await client.xread(
                    {self.stream: self._cursor}, count=self.batch_size, block=self.block_ms
                )
            elif self._phase == "claim":
                return await self._claim(client)
            elif self._phase == "own":
                reply = await client.xreadgroup(
                    self.group, self.consumer, {self.stream: self._cursor}, count=self.batch_size
                )
            else:
                reply = await client.xreadgroup(
                    self.group, self.consumer, {self.stream: ">"}, count=self.batch_size, block=self.block_ms
                )
        except self._redis.ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            log.warning("provider %r: group %r is gone (a restart without persistence?); creating it again",
                        self.node_id, self.group)  # fmt: skip
            await client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            return []
        entries = reply[0][1] if reply else []
        if self._phase == "own" and not entries:
            self._phase = "new"
        elif entries:
            self._cursor = self._last_read = entries[-1][0]
        return entries

    async def _claim(self, client) -> list:
        """Take over one page of entries idle for longer than ``claim_idle`` (their content is read
        in the next phase, with this consumer's own pending entries); returns no entries."""
        cursor, claimed, deleted = (
            await client.execute_command(
                "XAUTOCLAIM", self.stream, self.group, self.consumer, self.claim_idle_ms, self._cursor,
                "COUNT", self.batch_size, "JUSTID",
            )  # fmt: skip
        )[:3]
        if claimed:
            log.info("provider %r: took over %d entries left pending in group %r",
                     self.node_id, len(claimed), self.group)  # fmt: skip
        for entry_id in deleted:
            self.stats.set_aside_one(TRIMMED, f"{self.stream} entry {entry_id.decode()}")
        self._cursor = cursor
        if cursor == FIRST_ID:
            self._phase, self._cursor = "own", FIRST_ID
        return []

    async def _decode(self, entries: list) -> list[dict]:
        """The records of ``entries``; those that are no record are set aside (and acknowledged)."""
        records, ids, done = [], [], []
        for entry_id, fields in entries:
            if not fields:  # pending, but trimmed from the stream since
                self.stats.set_aside_one(TRIMMED, f"{self.stream} entry {entry_id.decode()}")
                done.append(entry_id)
                continue
            try:
                records.append(decode_record(fields))
            except RecordDecodingError as exc:
                self.stats.set_aside_one(NOT_A_RECORD, f"{self.stream} entry {entry_id.decode()}: {exc}")
                done.append(entry_id)
                continue
            ids.append(entry_id)
        if done and self.group:
            await self._attempt(lambda: self._xack(done))
        self._batch_ids = ids
        return records

    # -- resuming --

    def position(self) -> str | None:
        """The id of the last entry read, as text (``"0-0"`` before any); None alone with
        ``start: latest`` before the source has looked up where the stream ends."""
        if self.group is None and not (self._started or self._resumed or self.start == "earliest"):
            return None
        return (self._cursor if self.group is None else self._last_read).decode()

    def resume_at(self, position: str) -> None:
        """Before :meth:`batches`: read the entries after id ``position`` (see the module docstring)."""
        if not isinstance(position, str) or not ENTRY_ID.fullmatch(position):
            raise JobError(f"provider {self.node_id!r}: not an entry id of a Redis stream: {position!r:.100}")
        entry = position.encode()
        self._resumed = True
        self._cursor = self._last_read = entry
        if self.group is not None:
            self._phase = "own"

    # -- acknowledging --

    def batch_token(self, taken: int) -> bytes | None:
        """What names the first ``taken`` records of the batch last yielded (the job took only
        those), for :meth:`acknowledge`: their ids; None without a group."""
        if self.group is None or not taken:
            return None
        return b" ".join(self._batch_ids[:taken])

    async def acknowledge(self, tokens: list[bytes]) -> None:
        """Acknowledge the entries the ``tokens`` of :meth:`batch_token` name (XACK); raises when
        Redis cannot be reached."""
        await self._xack([entry_id for token in tokens for entry_id in token.split()])

    async def acknowledge_through(self, position: str) -> None:
        """Acknowledge every entry pending for this consumer up to id ``position``: a checkpoint's
        position, whose snapshot holds what those entries became."""
        client = self._connection()
        while True:
            pending = await client.xpending_range(
                self.stream, self.group, min="-", max=position, count=ACK_CHUNK, consumername=self.consumer
            )
            ids = [entry["message_id"] for entry in pending]
            if ids:
                await self._xack(ids)
            if len(ids) < ACK_CHUNK:
                return

    async def _xack(self, ids: list[bytes]) -> None:
        client = self._connection()
        for first in range(0, len(ids), ACK_CHUNK):
            await client.xack(self.stream, self.group, *ids[first : first + ACK_CHUNK])

    async def close(self) -> None:
        """Stop reading and release the connection; safe to call again, also after an
        :meth:`acknowledge` that connected once more."""
        self._closed = True
        await self._disconnect()
