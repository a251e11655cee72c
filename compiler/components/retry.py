"""The ``retry`` param of the sinks that write to a server: how often and how patiently a write
that failed for a passing reason (a restart, a lost connection, a deadlock) is tried again."""

from __future__ import annotations

from pydantic import Field, model_validator

from runtime_lib.retry import DEFAULT_INITIAL_BACKOFF_S, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF_S

from .base import Duration, Params

NS_PER_S = 1_000_000_000


class RetryParams(Params):
    """``retry: {max_attempts, initial_backoff, max_backoff}``: the first wait, doubled after each
    failure up to ``max_backoff``; ``max_attempts`` writes of one batch at most (1: no retry)."""

    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=1000, description="writes of one batch at most")
    initial_backoff: Duration = Field(
        int(DEFAULT_INITIAL_BACKOFF_S * NS_PER_S), description="wait after the first failure"
    )
    max_backoff: Duration = Field(int(DEFAULT_MAX_BACKOFF_S * NS_PER_S), description="longest wait")

    @model_validator(mode="after")
    def _backoff_grows(self) -> RetryParams:
        if self.initial_backoff > self.max_backoff:
            raise ValueError("retry: initial_backoff must not be longer than max_backoff")
        return self

    def runtime(self) -> dict:
        """The sink's ``retry`` kwargs, in seconds (:meth:`runtime_lib.retry.RetryPolicy.from_params`).

        >>> RetryParams(max_attempts=3, initial_backoff="100ms").runtime()
        {'max_attempts': 3, 'initial_backoff': 0.1, 'max_backoff': 30.0}
        """
        return {
            "max_attempts": self.max_attempts,
            "initial_backoff": self.initial_backoff / NS_PER_S,
            "max_backoff": self.max_backoff / NS_PER_S,
        }
