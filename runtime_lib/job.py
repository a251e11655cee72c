"""Entry points of a generated module: ``main`` for the command line, ``run_local_job`` for tests."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable

from .context import BuildContext, run_local_job
from .errors import JobError
from .metrics import NodeCollector, serve_metrics
from .runner import LiveContext, RunOptions, run_live
from .summary import format_summary

__all__ = ["main", "run_local_job"]


def _parser(job_name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python {job_name}.py", description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until the sources end)")
    parser.add_argument("--max-events", type=int, metavar="N", help="stop after N source events")
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    return parser


def run(build: Callable[[BuildContext], None], job_name: str, options: RunOptions, quiet: bool = False) -> int:
    """Run the job live; print a summary to stderr; return the exit status (0 ok, 1 job error)."""
    started = time.monotonic()
    ctx = LiveContext()
    server = None
    try:
        build(ctx)
        if options.metrics_port is not None:
            server = serve_metrics(NodeCollector(job_name, ctx.node_stats, ctx.workers), options.metrics_port)
        run_live(ctx, options)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if not quiet:
        rows = {node_id: worker.rows_written for node_id, worker in ctx.workers.items()}
        print(format_summary(job_name, ctx, time.monotonic() - started, rows), file=sys.stderr)
    return 0


def main(build: Callable[[BuildContext], None], job_name: str, description: str, argv: list[str] | None = None) -> int:
    """Parse run options from ``argv`` and run the job; return the exit status."""
    args = _parser(job_name, description).parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = RunOptions(duration=args.duration, max_events=args.max_events, metrics_port=args.metrics_port)
    return run(build, job_name, options, quiet=args.quiet)
