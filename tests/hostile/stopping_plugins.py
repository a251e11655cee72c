"""Plugin functions that misbehave, for the tests of stopping and of sink failures.

The functions that block first create the file ``started`` in the working directory, so a
test knows when the job is stuck.
"""

from __future__ import annotations

from pathlib import Path

STARTED = "started"


def spin(record: dict) -> dict:
    """Never return: a plugin stuck in a loop."""
    Path(STARTED).touch()
    while True:
        pass


def announce(record: dict) -> dict:
    """Return the record unchanged, after creating ``started``."""
    Path(STARTED).touch()
    return record


def as_list(record: dict) -> list:
    """Return a list instead of a record."""
    return [record["symbol"], record["price"]]
