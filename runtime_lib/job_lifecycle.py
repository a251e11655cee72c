"""What surrounds every run of a job, whoever runs it (``mdp run``, ``python module.py``, the Python API).

Before the run: the files the sinks will write are checked (before any sink opens and truncates
one), the pipeline is built, the run is recorded for ``mdp list`` and counted in the
``runtime_*`` gauges, and with a metrics port the HTTP endpoints start. After it: the endpoints
stop, the gauges and the record say how the job ended, and the :class:`Outcome` holds what the
caller prints or returns.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from .context import BuildContext
from .errors import JobError
from .file_paths import check_build_files
from .http_endpoints import Endpoints, serve_endpoints
from .job_registry import JobRecord
from .log_format import lifecycle
from .metrics import NodeCollector
from .readiness import not_ready_reasons
from .runner import LiveContext, RunOptions
from .runtime_gauges import RUNTIME_JOBS_RUNNING, RUNTIME_UP, job_started, job_stopped
from .summary import nodes_that_refused_everything

log = logging.getLogger("mdp.job")


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``status`` 0 or 1, and when 1 the ``error`` that says why.

    ``raised`` is True when an exception ended the run (there is no summary to print then), and
    ``unexpected`` when that exception was not a :class:`JobError` (its traceback is logged at DEBUG).
    """

    status: int
    error: str | None
    elapsed_s: float
    rows_written: dict[str, int] = field(default_factory=dict)
    raised: bool = False
    unexpected: bool = False


class JobLifecycle:
    """One run of a generated module's ``build``: call :meth:`prepare`, run ``ctx``, then :meth:`finish`."""

    def __init__(self, build: Callable[[BuildContext], None], job_name: str, options: RunOptions) -> None:
        self.build = build
        self.job_name = job_name
        self.options = options
        self.ctx = LiveContext()
        self.started = time.monotonic()
        self.record: JobRecord | None = None  # what `mdp list` and `mdp status` show, from prepare on
        self._endpoints: Endpoints | None = None
        self._counted = False

    def prepare(self) -> None:
        """Record the run, check the sinks' files, build the pipeline, start the endpoints and count
        the job as running."""
        self.record = JobRecord.open(self.job_name, self.options, self.ctx)
        check_build_files(self.build)
        self.build(self.ctx)
        if self.options.metrics_port is not None:
            self._endpoints = serve_endpoints(
                self.options.metrics_port,
                self._registry(),
                lambda: not_ready_reasons(self.ctx),
                {"job": self.job_name, "mode": self.options.mode},
            )
        job_started(self.options.mode)
        self._counted = True
        sources = list(self.ctx.sources)
        lifecycle(
            "start",
            f"job {self.job_name!r} started ({self.options.mode}, sources {', '.join(map(repr, sources))})",
            job=self.job_name,
            mode=self.options.mode,
            pid=os.getpid(),
            config=self.options.config_path,
            config_sha256=self.options.config_sha256,
            sources=sources,
            metrics_port=self.options.metrics_port,
        )

    def finish(self, failure: BaseException | None = None) -> Outcome:
        """End the run that ``failure`` (if any) stopped: stop the endpoints, record the end, say how it went."""
        if self._endpoints is not None:
            self._endpoints.close()
        if self._counted:
            job_stopped(self.options.mode)
        elapsed = time.monotonic() - self.started
        rows = {node_id: worker.rows_written for node_id, worker in self.ctx.workers.items()}
        error, unexpected = None, False
        if isinstance(failure, JobError):
            error = str(failure)
        elif failure is not None:  # an operator or sink failed on data it cannot handle
            log.debug("job %r stopped", self.job_name, exc_info=failure)
            error, unexpected = f"the job stopped on {type(failure).__name__}: {failure}", True
        else:
            refused = nodes_that_refused_everything(self.ctx)
            if refused:
                error = (
                    f"{', '.join(repr(node_id) for node_id in refused)} set aside every record it received"
                )
        status = 0 if error is None else 1
        if self.record is not None:
            if error is not None:
                self.record.failed(error)
            self.record.close(status)
        if self._counted:  # a job that never started has no stop to log, only its error
            self._log_stop(status, elapsed, error, rows)
        return Outcome(status, error, elapsed, rows, failure is not None, unexpected)

    def _log_stop(self, status: int, elapsed: float, error: str | None, rows: dict[str, int]) -> None:
        lifecycle(
            "stop",
            f"job {self.job_name!r} stopped after {elapsed:.2f} s with exit status {status}",
            job=self.job_name,
            status=status,
            elapsed_s=round(elapsed, 3),
            error=error,
            rows_written=rows,
            nodes={node_id: stats.as_dict() for node_id, stats in self.ctx.node_stats.items()},
        )

    def _registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        registry.register(
            NodeCollector(self.job_name, self.ctx, self.options.labels, self.options.config_sha256)
        )
        registry.register(RUNTIME_UP)
        registry.register(RUNTIME_JOBS_RUNNING)
        return registry
