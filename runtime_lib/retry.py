"""How a sink retries a write that failed for a reason that passes (a server restarting, a lost
connection, a deadlock): the same rows again, after a wait that doubles up to a bound."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import JobError

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_INITIAL_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` writes of one batch at most (1 = no retry), waiting ``initial_backoff_s``
    after the first failure and twice as long after each next one, never more than ``max_backoff_s``.

    >>> [RetryPolicy(5, 0.5, 1.5).backoff_s(attempt) for attempt in range(1, 5)]
    [0.5, 1.0, 1.5, 1.5]
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S

    @classmethod
    def from_params(cls, params: dict | None) -> RetryPolicy:
        """The policy of a sink's ``retry`` kwargs (``max_attempts``, ``initial_backoff``,
        ``max_backoff`` in seconds), the defaults where missing; bad values are a :class:`JobError`.

        >>> RetryPolicy.from_params({"max_attempts": 3})
        RetryPolicy(max_attempts=3, initial_backoff_s=0.5, max_backoff_s=30.0)
        """
        params = dict(params or {})
        unknown = sorted(set(params) - {"max_attempts", "initial_backoff", "max_backoff"})
        if unknown:
            raise JobError(
                f"retry: unknown keys {unknown} (known: max_attempts, initial_backoff, max_backoff)"
            )
        policy = cls(
            int(params.get("max_attempts", DEFAULT_MAX_ATTEMPTS)),
            float(params.get("initial_backoff", DEFAULT_INITIAL_BACKOFF_S)),
            float(params.get("max_backoff", DEFAULT_MAX_BACKOFF_S)),
        )
        if policy.max_attempts < 1 or not 0 <= policy.initial_backoff_s <= policy.max_backoff_s:
            raise JobError(
                f"retry: need max_attempts >= 1 and 0 <= initial_backoff <= max_backoff, got {params}"
            )
        return policy

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 = the first write)."""
        return min(self.initial_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
