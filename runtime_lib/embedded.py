"""Run a built job inside the caller's running event loop (the Python API's way to run a job).

``python module.py`` and ``mdp run`` own their process: they install SIGINT/SIGTERM handlers and
a watchdog that exits the process when stopping hangs. A job embedded in someone else's program
must do neither, since the caller owns the signals and the process. :class:`EmbeddedJob` runs
the same :class:`~runtime_lib.runner.Run` in the caller's loop: ``duration`` is a timer on that
loop, :meth:`EmbeddedJob.request_stop` sets the run's stop event (the sources stop, open
windows flush, the sinks drain, as after SIGTERM), and there is no grace timer. Cancelling
the task that runs it stops it the same way. A push that never returns blocks the caller's
loop, as any blocking call would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from .context import BuildContext
from .job_lifecycle import JobLifecycle
from .log_format import lifecycle
from .runner import Run, RunOptions
from .summary import format_summary


@dataclass(frozen=True)
class RunResult:
    """How a job run ended, with the counters ``mdp run`` prints in its summary.

    ``status`` is ``mdp run``'s exit status: 0 done, 1 job error (``error`` says what) or a node
    that set aside every record it received. ``nodes`` maps each node id to its counters
    (``events_in``, ``events_out``, ``late``, ``dropped``, ``errors``, ``set_aside`` by reason,
    ...); ``rows_written`` maps each sink to the rows it wrote; ``summary`` is the printed table.
    """

    job_name: str
    status: int
    error: str | None
    elapsed_s: float
    nodes: dict[str, dict] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    summary: str = ""

    @property
    def ok(self) -> bool:
        """Whether the job ended with status 0."""
        return self.status == 0


class EmbeddedJob:
    """One run of a generated module's ``build`` in the caller's event loop."""

    def __init__(self, build: Callable[[BuildContext], None], job_name: str, options: RunOptions) -> None:
        self.job = JobLifecycle(build, job_name, options)
        self.job_name = job_name
        self.options = options
        self.ctx = self.job.ctx
        self.run: Run | None = None
        self._stop_requested = False

    def request_stop(self) -> None:
        """Ask the job to stop: sources stop, open windows flush, sinks drain (as after SIGTERM)."""
        self._stop_requested = True
        if self.run is not None:
            self.run.stop.set()

    async def execute(self) -> RunResult:
        """Build the job, run it to its end, and return how it ended (a job error is a result, not raised)."""
        failure = None
        try:
            self.job.prepare()
            self.run = Run(self.ctx, self.options)
            if self._stop_requested:
                self.run.stop.set()
            await self.run.execute(watchdog=False)
        except Exception as exc:  # a job error, or an operator or sink that failed on data it cannot handle
            failure = exc
        except asyncio.CancelledError:  # the caller stopped the job by cancelling its task
            self.job.finish()
            raise
        outcome = self.job.finish(failure)
        error = outcome.error
        if error is not None and not outcome.raised:
            error += " (see the warnings logged)"
        if error is not None:
            lifecycle("error", f"job {self.job_name!r} failed: {error}", job=self.job_name, error=error)
        return RunResult(
            self.job_name,
            outcome.status,
            error,
            outcome.elapsed_s,
            {node_id: stats.as_dict() for node_id, stats in self.ctx.node_stats.items()},
            outcome.rows_written,
            format_summary(self.job_name, self.ctx, outcome.elapsed_s, outcome.rows_written),
        )
