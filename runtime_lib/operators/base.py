"""The contract every stateful operator implements, how it sets aside a record it cannot take, and
how its state is saved for a checkpoint and restored from one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

from ..errors import JobError
from ..stats import NodeStats

log = logging.getLogger("mdp.job")
LOGGED_FAILURES_PER_NODE = 10
STATE_VERSION = 1
"""The version of the layout of every operator's :meth:`Operator.state_snapshot`."""


class StateNotSaved(JobError):
    """The state of this operator cannot be saved for a checkpoint (a running Python generator)."""


class StateMismatch(JobError):
    """A saved state this operator cannot take: another layout, or params that change its meaning."""


class Operator:
    """A pipeline breaker that keeps state between batches.

    ``process(batch)`` returns the records the batch released (possibly none);
    ``on_timer(now_ns)`` returns records released by processing time (live runs only);
    ``flush()`` returns everything still held, at end of stream. Counters go to ``stats``.

    ``processing_time`` is True for operators that release records on processing time
    whatever the sources (a buffer's ``max_wait``, a throttle's refill): the live runner then
    fires their timers even when no source is live.

    A record that makes the operator fail (its key or another expression raises, its ``ts`` is
    missing or no integer) is set aside by :meth:`Operator._failed`, as a fused loop sets aside
    a record whose expression raised: counted in ``stats.errors``, logged naming the node, and
    the batch goes on. Operators check such a record before changing any state for it.

    **Checkpoints.** :meth:`state_snapshot` returns the operator's whole mutable state as plain
    data that ``marshal.dumps`` accepts, sharing the live structures (the caller serialises it
    at once, before the operator runs again); :meth:`restore_state` takes
    ``marshal.loads(marshal.dumps(snapshot))`` on a freshly built operator with the same params,
    which then behaves exactly as the one snapshotted. The counters in :attr:`stats` are not
    part of it: they belong to whoever runs the node. ``state_saved`` is False for operators
    that cannot do this: those that say so, and a subclass that defines no ``state_snapshot``
    (nor inherits one but :class:`Operator`'s, which refuses with :class:`StateNotSaved`).
    """

    processing_time = False
    state_saved = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "state_saved" not in cls.__dict__:  # else the class says so itself
            if "state_snapshot" in cls.__dict__:
                cls.state_saved = True
            elif cls.state_snapshot is Operator.state_snapshot:
                cls.state_saved = False

    def __init__(self, node_id: str, stats: NodeStats) -> None:
        self.node_id = node_id
        self.stats = stats

    def process(self, batch: list[dict]) -> list[dict]:
        """Consume a batch and return the records it releases."""
        raise NotImplementedError

    def on_timer(self, now_ns: int) -> list[dict]:
        """Release what processing time ``now_ns`` closes; most operators release nothing."""
        return []

    def flush(self) -> list[dict]:
        """Release everything still held (end of stream)."""
        return []

    def take_side(self, port: str) -> list[dict]:
        """Hand over (and forget) the records collected for side output ``port`` (e.g. "late")."""
        return []

    def state_snapshot(self) -> dict:
        """The state that can affect any later output, as plain data (see the class docstring)."""
        raise self._no_saved_state("it defines no state_snapshot and restore_state")

    def restore_state(self, state: dict) -> None:
        """Take the state a :meth:`state_snapshot` of an operator with the same params returned."""
        raise self._no_saved_state("it defines no state_snapshot and restore_state")

    def _no_saved_state(self, why: str) -> StateNotSaved:
        """The error of an operator whose state cannot be saved, ``why`` saying what stops it."""
        return StateNotSaved(
            f"operator {self.node_id!r} ({type(self).__name__}) cannot save its state for a checkpoint: {why}"
        )

    def state_summary(self) -> dict:
        """A few JSON-able numbers that describe the state (keys, open windows, held records)."""
        return {}

    def _state_params(self) -> dict:
        """The params that give a saved state its meaning: a state taken with others is refused."""
        return {}

    def _state(self, **fields) -> dict:
        """A snapshot: ``fields`` with the layout version and :meth:`_state_params`."""
        return {"version": STATE_VERSION, "params": self._state_params(), **fields}

    def _check_state(self, state: dict) -> None:
        """Refuse a snapshot of another layout, or one taken with other :meth:`_state_params`."""
        version = state.get("version") if isinstance(state, dict) else None
        if version != STATE_VERSION:
            raise StateMismatch(
                f"operator {self.node_id!r}: the saved state has layout version {version!r}, "
                f"this mdp reads version {STATE_VERSION}"
            )
        saved = state.get("params", {})
        changed = [f"{name} {saved.get(name)!r} then, {value!r} now"
                   for name, value in self._state_params().items() if saved.get(name) != value]  # fmt: skip
        if changed:
            raise StateMismatch(
                f"operator {self.node_id!r}: the saved state was taken with other params "
                f"({'; '.join(changed)}), so it cannot be restored"
            )

    def _failed(self, record: object, error: Exception) -> None:
        """Set aside ``record``, which raised ``error``: count it as an error, log the first few."""
        stats = self.stats
        stats.errors += 1
        if stats.errors <= LOGGED_FAILURES_PER_NODE:
            log.warning("record set aside in %r: %s: %s; record: %.300r",
                        self.node_id, type(error).__name__, error, record)  # fmt: skip
        if stats.errors == LOGGED_FAILURES_PER_NODE:
            log.warning("node %r: further records set aside for errors are counted, not logged", self.node_id)

    def _keyed(self, batch: list[dict], key: Callable[[dict], Hashable]) -> tuple[list[dict], list]:
        """``(records, keys)``: the records of ``batch`` with their keys, minus those whose key raised.

        The whole batch in one pass when no key raises; otherwise record by record, setting
        aside each record whose key raised.
        """
        try:
            return batch, list(map(key, batch))
        except Exception:
            pass
        records: list[dict] = []
        keys: list = []
        for r in batch:
            try:
                k = key(r)
            except Exception as exc:
                self._failed(r, exc)
                continue
            records.append(r)
            keys.append(k)
        return records, keys
