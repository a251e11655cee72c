"""The older system's process-wide gauges, ``runtime_up{mode}`` and ``runtime_jobs_running{mode}``.

They live in prometheus_client's default registry (so ``generate_latest()`` in a program that
runs jobs through the Python API shows them, as the older system's did) and are also served on
each job's own ``/metrics``. Both modes always have a series: ``runtime_up{mode}`` is 1 while a
job of that mode runs in this process and 0 otherwise; ``runtime_jobs_running{mode}`` counts them.
"""

from __future__ import annotations

import threading

from prometheus_client import Gauge

MODES = ("classic", "dag")

RUNTIME_UP = Gauge("runtime_up", "Runtime health status", ["mode"])
RUNTIME_JOBS_RUNNING = Gauge("runtime_jobs_running", "Jobs currently active", ["mode"])
_running = dict.fromkeys(MODES, 0)
_lock = threading.Lock()
for _mode in MODES:
    RUNTIME_UP.labels(_mode).set(0)
    RUNTIME_JOBS_RUNNING.labels(_mode).set(0)


def _set(mode: str, change: int) -> None:
    with _lock:
        _running[mode] = max(_running.get(mode, 0) + change, 0)
        RUNTIME_JOBS_RUNNING.labels(mode).set(_running[mode])
        RUNTIME_UP.labels(mode).set(1 if _running[mode] else 0)


def job_started(mode: str) -> None:
    """Count a job of ``mode`` (dag or classic) as running in this process."""
    _set(mode, 1)


def job_stopped(mode: str) -> None:
    """Count a job of ``mode`` as no longer running."""
    _set(mode, -1)
