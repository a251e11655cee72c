"""Fixtures for the IBKR provider tests: an event-loop runner and a guard on client-library errors.

The fake gateway itself is created inside each test's coroutine (``async with FakeTws() as
tws``), so it lives in the same event loop as the client.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

# Loggers whose ERROR records fail a test: the IB client libraries (a malformed message only
# shows up there) and asyncio (an exception nobody awaited).
GUARDED_LOGGERS = ("ib_insync", "ib_async", "asyncio")


class ErrorLogGuard(logging.Handler):
    """Collects ERROR records of the guarded loggers; ``expect`` whitelists known ones."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._expected: list[re.Pattern] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def expect(self, *patterns: str) -> None:
        """Allow ERROR records whose message matches any of ``patterns`` (regular expressions)."""
        self._expected += [re.compile(pattern) for pattern in patterns]

    def unexpected(self) -> list[str]:
        """Messages of ERROR records that no ``expect`` pattern allows."""
        messages = [f"{r.name}: {r.getMessage()}" for r in self.records]
        return [m for m in messages if not any(p.search(m) for p in self._expected)]


@pytest.fixture(autouse=True)
def client_errors():
    """Fail the test on any unexpected ERROR log record from the IB client library or asyncio."""
    guard = ErrorLogGuard()
    loggers = [logging.getLogger(name) for name in GUARDED_LOGGERS]
    for logger in loggers:
        logger.addHandler(guard)
    yield guard
    for logger in loggers:
        logger.removeHandler(guard)
    unexpected = guard.unexpected()
    assert not unexpected, "ERROR log records from the client library:\n" + "\n".join(unexpected)


@pytest.fixture
def run():
    """Run a coroutine to completion in a fresh event loop, failing it after ``timeout`` seconds."""

    def runner(coro, timeout: float = 15.0):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner
