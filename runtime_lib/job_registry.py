"""A running job's record in the state directory, which ``mdp list`` and ``mdp status`` read.

:meth:`JobRecord.open` starts a daemon thread that writes the record at once, prunes old
records (:mod:`.job_records`), then rewrites the record every :data:`WRITE_INTERVAL_S` while
the job runs; :meth:`JobRecord.close` has it written once more with the final state (``stopped``
for exit status 0, else ``failed``) and the exit code. The record never stops or slows the job:
a state directory that cannot be written costs one logged warning, and each write (a JSON dump
of the counters and an atomic file replace, see :mod:`.job_files`) takes well under a
millisecond, off the job's thread.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .job_counters import counters, utc_text
from .job_files import make_jobs_dir, record_file_name, state_dir, write_atomically
from .job_liveness import process_start_ticks
from .job_records import prune_folder
from .stopping import on_forced_exit

if TYPE_CHECKING:
    from .runner import LiveContext, RunOptions

log = logging.getLogger("mdp.job")
RECORD_FORMAT = 1
WRITE_INTERVAL_S = 1.0
CLOSE_TIMEOUT_S = 5.0  # how long the job's exit waits for the last write (a hung filesystem)


class JobRecord:
    """The record of one run: what it is, its state, its counters; rewritten while it runs."""

    def __init__(
        self, path: Path | None, identity: dict, ctx: LiveContext, extra: Callable[[], dict] | None = None
    ) -> None:
        self.path = path
        self.identity = identity
        self.ctx = ctx
        self.extra = extra
        self.started = time.monotonic()
        self.state = "running"
        self.exit_code: int | None = None
        self.last_error: str | None = None
        self._warned = False
        self._forget_hook: Callable[[], None] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep_written, name="mdp-job-record", daemon=True)

    @classmethod
    def open(
        cls, job_name: str, options: RunOptions, ctx: LiveContext, extra: Callable[[], dict] | None = None
    ) -> JobRecord:
        """Start recording the run of ``job_name`` whose counters are on ``ctx`` (and what
        ``extra()`` adds, such as the shards of a job on several).

        Without a usable state directory the job runs unrecorded, after one warning.
        """
        started_ns = time.time_ns()
        pid = os.getpid()
        port = options.metrics_port
        identity = {
            "format": RECORD_FORMAT,
            "job": job_name,
            "mode": options.mode,
            "pid": pid,
            "pid_start_ticks": process_start_ticks(pid),
            "hostname": socket.gethostname(),
            "started_at": utc_text(started_ns),
            "started_ns": started_ns,
            "config_path": options.config_path,
            "config_sha256": options.config_sha256,
            "metrics": None if port is None else f"http://127.0.0.1:{port}",
        }
        root = state_dir()
        try:
            path = make_jobs_dir(root) / record_file_name(job_name, pid, started_ns)
        except OSError as exc:
            log.warning("job record: cannot create %s (mdp list will not show this run): %s", root, exc)
            return cls(None, identity, ctx, extra)
        record = cls(path, identity, ctx, extra)
        record._forget_hook = on_forced_exit(record._forced_exit)
        record._thread.start()
        return record

    def failed(self, text: str) -> None:
        """Note the error that is ending the job (``last_error``)."""
        self.last_error = text

    def close(self, exit_code: int) -> int:
        """Write the final record (``stopped`` for 0, else ``failed``) and return ``exit_code``."""
        self.exit_code = exit_code
        self.state = "stopped" if exit_code == 0 else "failed"
        if self._forget_hook is not None:
            self._forget_hook()
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_TIMEOUT_S)
        return exit_code

    def data(self) -> dict:
        """The record as written now."""
        now_ns = time.time_ns()
        return {
            **self.identity,
            "state": self.state,
            "updated_at": utc_text(now_ns),
            "updated_ns": now_ns,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "exit_code": self.exit_code,
            "last_error": self.last_error,
            **counters(self.ctx, now_ns),
            **(self.extra() if self.extra is not None else {}),
        }

    def _forced_exit(self, status: int, why: str) -> None:
        """The process is exiting hard (a stop that hung): write the end now, from the exiting thread."""
        self.exit_code, self.state, self.last_error = status, "failed", why
        self._write()

    def _keep_written(self) -> None:
        self._write()
        prune_folder(self.path.parent)  # housekeeping, here rather than on the job's thread
        while not self._done.wait(WRITE_INTERVAL_S):
            self._write()
        self._write()

    def _write(self) -> None:
        try:
            write_atomically(self.path, json.dumps(self.data()))
        except Exception as exc:  # the record must never stop the job: say so once, keep trying
            if not self._warned:
                self._warned = True
                log.warning("job record: cannot write %s (mdp list may show it stale): %s", self.path, exc)
