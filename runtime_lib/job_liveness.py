"""Whether the process that wrote a job record still runs, even if its pid has been reused since.

Where ``/proc`` exists, a process is known by its pid together with its start time (field 22
of ``/proc/<pid>/stat``, in clock ticks since boot): a new process that got the same pid has
another start time. Elsewhere only the pid is checked.
"""

from __future__ import annotations

import os

PROC = "/proc"
MAX_PID = 2**31 - 1


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time of ``pid`` from ``/proc``; None when it cannot be read."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as stat:
            text = stat.read()
        # The command name (field 2) is in parentheses and may hold anything, spaces included.
        fields = text[text.rindex(b")") + 2 :].split()
        return fields[0].decode("ascii"), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot; None without ``/proc``.

    >>> process_start_ticks(os.getpid()) == process_start_ticks(os.getpid())
    True
    """
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def is_running(pid: int, start_ticks: int | None) -> bool:
    """Whether process ``pid`` exists, is not a zombie and (where both are known) started at ``start_ticks``.

    >>> is_running(os.getpid(), process_start_ticks(os.getpid()))
    True
    >>> is_running(os.getpid(), -1) == (process_start_ticks(os.getpid()) is None)
    True
    """
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return not os.path.isdir(PROC)  # with /proc, an unreadable entry means it has just gone
    state, ticks = stat
    if state == "Z":
        return False
    return start_ticks is None or ticks == start_ticks
