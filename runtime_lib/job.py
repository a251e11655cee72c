"""Entry points of a generated module: ``main`` for the command line, ``run_local_job`` for tests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .checkpointing import CheckpointOptions
from .context import BuildContext, run_local_job
from .job_files import state_dir
from .job_lifecycle import JobLifecycle
from .limits import positive_count, positive_seconds
from .log_format import LOG_FORMATS, configure_logging, lifecycle
from .progress import ProgressBar
from .runner import RunOptions, run_live
from .stopping import DEFAULT_GRACE_S, GRACE_ENV
from .summary import format_summary

__all__ = ["main", "options_with_defaults", "run_local_job"]


def _checked(check: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse ``type`` that reports ``check``'s ValueError as a usage error naming the option."""

    def convert(text: str) -> object:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _parser(job_name: str, description: str, defaults: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python {job_name}.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    duration = (
        f"{defaults['duration']:g} s, from the config" if "duration" in defaults else "until the sources end"
    )
    port = f" (default: {defaults['metrics_port']}, from the config)" if "metrics_port" in defaults else ""
    level = f"{defaults['log_level']}, from the config" if "log_level" in defaults else "INFO"
    parser.add_argument(
        "--duration",
        type=_checked(positive_seconds),
        metavar="S",
        help=f"stop after S seconds (default: {duration})",
    )
    parser.add_argument(
        "--max-events", type=_checked(positive_count), metavar="N", help="stop after N source events"
    )
    parser.add_argument(
        "--stop-grace",
        type=_checked(positive_seconds),
        metavar="S",
        help=f"after SIGINT, SIGTERM or --duration, exit with status 124 if the job has not "
        f"finished within S seconds (default: ${GRACE_ENV}, else {DEFAULT_GRACE_S:g})",
    )
    parser.add_argument(
        "--metrics-port", type=int, metavar="PORT", help=f"serve Prometheus metrics on 127.0.0.1:PORT{port}"
    )
    parser.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help=f"default: {level}"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text (default) or json: one object per line",
    )
    saved = defaults.get("checkpoint")
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="take checkpoints into DIR/<job> and resume from them"
        + (" (default: from the config)" if saved else " (default: none, unless the config asks)"),
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="with checkpoints: remove the job's snapshots and start from the beginning",
    )
    parser.add_argument(
        "--allow-state-reset",
        action="append",
        default=[],
        metavar="NODE",
        help="with checkpoints: NODE starts empty when its saved state does not fit the config (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line, even on a terminal")
    parser.add_argument(
        "--quiet", action="store_true", help="do not print the summary (nor the progress line)"
    )
    return parser


def run(
    build: Callable[[BuildContext], None],
    job_name: str,
    options: RunOptions,
    quiet: bool = False,
    progress: bool = True,
    log_format: str = "text",
) -> int:
    """Run the job live and return the exit status (0 ok, 1 job error).

    With ``log_format`` text, a summary table (unless ``quiet``) and any error are printed to
    stderr at the end; with json, stderr holds only JSON lines, and the end is the ``stop``
    event (with the counters) and, on failure, an ``error`` event. A progress line is drawn on
    a terminal when ``progress`` and not ``quiet``. A job that does not stop within the grace
    period after a stop request, or that gets a second signal, exits the process from
    :mod:`.stopping` instead (status 124, 130 or 143).
    """
    options.job_name = job_name
    job = JobLifecycle(build, job_name, options)
    failure = None
    try:
        job.prepare()
        bar = ProgressBar.start_if_wanted(job.ctx.running, enabled=progress and not quiet)
        try:
            run_live(job.ctx, options)
        finally:
            if bar is not None:
                bar.stop()
    except Exception as exc:  # a job error, or an operator or sink that failed on data it cannot handle
        failure = exc
    outcome = job.finish(failure)
    hint = ""
    if outcome.error is not None:
        if outcome.unexpected:
            hint = " (run with --log-level DEBUG for the traceback)"
        elif not outcome.raised:  # a node refused every record: the warnings logged say why
            hint = " (see the warnings above)"
    if log_format == "json":
        if outcome.error is not None:
            lifecycle(
                "error", f"job {job_name!r} failed: {outcome.error}{hint}", job=job_name, error=outcome.error
            )
        return outcome.status
    if not quiet and not outcome.raised:
        print(format_summary(job_name, job.ctx, outcome.elapsed_s, outcome.rows_written), file=sys.stderr)
    if outcome.error is not None:
        print(f"error: {outcome.error}{hint}", file=sys.stderr)
    return outcome.status


def options_with_defaults(
    defaults: dict | None,
    duration: float | None = None,
    max_events: int | None = None,
    metrics_port: int | None = None,
    stop_grace: float | None = None,
) -> RunOptions:
    """Run options where each one given wins over the module's ``RUN_DEFAULTS`` (set by the config).

    >>> options_with_defaults({"duration": 10.0, "labels": {"tenant_id": "demo"}}, max_events=5)
    RunOptions(duration=10.0, max_events=5, metrics_port=None, labels={'tenant_id': 'demo'}, stop_grace=None, mode='dag', config_path=None, config_sha256=None, job_name='', checkpoint=None)
    >>> options_with_defaults({"duration": 10.0}, duration=2.0).duration
    2.0
    """
    defaults = defaults or {}
    return RunOptions(
        duration=duration if duration is not None else defaults.get("duration"),
        max_events=max_events,
        metrics_port=metrics_port if metrics_port is not None else defaults.get("metrics_port"),
        labels=dict(defaults.get("labels") or {}) or None,
        stop_grace=stop_grace,
    )


def checkpoint_options(
    defaults: dict | None,
    checkpoint_dir: str | None = None,
    fresh: bool = False,
    allow_state_reset: list[str] | tuple[str, ...] = (),
) -> CheckpointOptions | None:
    """The checkpoints of a run: on when the config's ``run.checkpoint`` or ``checkpoint_dir`` asks.

    The folder is ``checkpoint_dir``, else the config's ``dir``, else ``<state dir>/checkpoints``.

    >>> checkpoint_options({"checkpoint": {"every": 2.0, "dir": "ck"}}, fresh=True)
    CheckpointOptions(dir='ck', every_s=2.0, fresh=True, allow_state_reset=(), on_stop='savepoint')
    >>> checkpoint_options({}) is None
    True
    """
    defaults = defaults or {}
    saved = defaults.get("checkpoint")
    if saved is None and checkpoint_dir is None:
        return None
    saved = saved or {}
    folder = checkpoint_dir or saved.get("dir") or str(state_dir() / "checkpoints")
    return CheckpointOptions(
        dir=folder,
        every_s=float(saved.get("every", 10.0)),
        fresh=fresh,
        allow_state_reset=tuple(allow_state_reset),
        on_stop=defaults.get("on_stop") or "savepoint",
    )


def main(
    build: Callable[[BuildContext], None],
    job_name: str,
    description: str,
    argv: list[str] | None = None,
    defaults: dict | None = None,
    identity: tuple[str, str, str] | None = None,
) -> int:
    """Parse run options from ``argv`` and run the job; return the exit status.

    ``defaults`` is the module's ``RUN_DEFAULTS``: options that the config sets (duration,
    metrics port, log level, metrics labels); an option given on the command line wins.
    ``identity`` is the module's ``(JOB_MODE, CONFIG_PATH, CONFIG_SHA256)``.
    """
    defaults = defaults or {}
    args = _parser(job_name, description, defaults).parse_args(argv)
    configure_logging(args.log_level or defaults.get("log_level") or "INFO", args.log_format)
    options = options_with_defaults(
        defaults, args.duration, args.max_events, args.metrics_port, args.stop_grace
    )
    if identity is not None:
        options.mode, options.config_path, options.config_sha256 = identity
    options.checkpoint = checkpoint_options(defaults, args.checkpoint_dir, args.fresh, args.allow_state_reset)
    return run(build, job_name, options, args.quiet, not args.no_progress, args.log_format)
