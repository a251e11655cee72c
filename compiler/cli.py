"""The ``mdp`` command line.

Each command imports the compiler stages it uses when it runs: ``mdp --help`` loads little
beyond typer, and ``mdp validate`` and ``mdp explain`` never load the code generator (black,
jinja2) or the runtime.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runtime_lib.limits import positive_count, positive_seconds
from runtime_lib.stopping import DEFAULT_GRACE_S, GRACE_ENV

from .components_cli import components_command
from .config_args import ConfigOption, ConfigsOption, OptionalConfig, OptionalConfigs, all_configs, one_config
from .graph_cli import graph_command
from .jobs_cli import list_command, status_command
from .state_cli import state_app

if TYPE_CHECKING:
    from .driver import Compiled
    from .plan import Plan

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compile market-data pipelines into Python modules.",
)
GENERATED_DIR = Path("generated")


def _compile(config: Path) -> Compiled:
    """Compile or exit 1 with every diagnostic; warnings are printed and compilation goes on."""
    from .diagnostics import DiagnosticError, report
    from .driver import compile_file

    try:
        compiled = compile_file(config)
    except DiagnosticError as exc:
        report(exc.diagnostics)
        raise typer.Exit(1) from None
    report(compiled.warnings)
    return compiled


def _plan(config: Path) -> Plan:
    """Check and plan without generating code, or exit 1 with every diagnostic; warnings are printed."""
    from .diagnostics import DiagnosticError, report
    from .driver import plan_file

    try:
        the_plan = plan_file(config)
    except DiagnosticError as exc:
        report(exc.diagnostics)
        raise typer.Exit(1) from None
    report(the_plan.pipeline.warnings)
    return the_plan


def default_output(compiled: Compiled) -> Path:
    """``generated/<job name>.py``."""
    return GENERATED_DIR / f"{compiled.plan.pipeline.name}.py"


@app.command("compile")
def compile_command(
    configs: OptionalConfigs = None,
    config: ConfigsOption = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="module to write (one config only)")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="fail with a diff if a checked-in module is stale")
    ] = False,
) -> None:
    """Compile configs into modules under generated/ (or -o), or --check that they are current."""
    configs = all_configs(configs, config)
    if output is not None and (check or len(configs) != 1):
        raise typer.BadParameter("-o takes exactly one config and cannot be combined with --check")
    stale = 0
    for config in configs:
        compiled = _compile(config)
        target = output or default_output(compiled)
        if check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != compiled.source:
                stale += 1
                diff = difflib.unified_diff(
                    current.splitlines(True),
                    compiled.source.splitlines(True),
                    str(target),
                    f"{target} (from {config})",
                )
                typer.echo("".join(diff), err=True)
                state = "is stale" if target.exists() else "is missing"
                typer.echo(f"{target} {state}: run `mdp compile {config}`", err=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(compiled.source, encoding="utf-8")
        typer.echo(f"wrote {target}")
    if stale:
        raise typer.Exit(1)


@app.command()
def validate(configs: OptionalConfigs = None, config: ConfigsOption = None) -> None:
    """Check configs and report every problem, without writing anything."""
    configs = all_configs(configs, config)
    failed = 0
    for config in configs:
        try:
            _plan(config)
            typer.echo(f"{config}: ok")
        except typer.Exit:
            failed += 1
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(
    config: OptionalConfig = None,
    config_option: ConfigOption = None,
    engine: Annotated[
        str,
        typer.Option(help="streaming, or ray: also say where the plan splits into shards", callback=_engine),
    ] = "streaming",
    shards: Annotated[int, typer.Option(min=1, max=1024, help="with --engine ray: how many shards")] = 2,
) -> None:
    """Show the optimised plan: segments, what was fused, and why each boundary remains."""
    from .diagnostics import DiagnosticError, report
    from .explain import explain as explain_plan

    plan = _plan(one_config(config, config_option))
    typer.echo(explain_plan(plan))
    if engine == "ray":
        from .sharding import explain_shards

        try:
            typer.echo("\n" + "\n".join(explain_shards(plan, shards)))
        except DiagnosticError as exc:
            report(exc.diagnostics)
            raise typer.Exit(1) from None


def _checked(check):
    """A typer callback that reports ``check``'s ValueError as a usage error (exit 2) naming the option."""

    def callback(value):
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def _engine(value: str | None) -> str | None:
    """A typer callback: ``value`` if it names an engine (or is not given), else a usage error (exit 2)."""
    if value is not None and value not in ("streaming", "ray"):
        raise typer.BadParameter(f"{value!r} is not streaming or ray")
    return value


def _log_format(value: str) -> str:
    """A typer callback: ``value`` if it is a known log format, else a usage error (exit 2)."""
    from runtime_lib.log_format import LOG_FORMATS  # logging is imported only by the commands that log

    if value not in LOG_FORMATS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOG_FORMATS)}")
    return value


@app.command()
def run(
    config: Annotated[
        Path | None,
        typer.Argument(help="config file (YAML or JSON); default: $MDP_UNIFIED_CONFIG", show_default=False),
    ] = None,
    config_option: ConfigOption = None,
    duration: Annotated[
        float | None,
        typer.Option(help="stop after this many seconds", callback=_checked(positive_seconds)),
    ] = None,
    max_events: Annotated[
        int | None,
        typer.Option(help="stop after this many source events", callback=_checked(positive_count)),
    ] = None,
    stop_grace: Annotated[
        float | None,
        typer.Option(
            help=f"after SIGINT, SIGTERM or --duration, exit with status 124 if the job has not finished within "
            f"this many seconds (default: ${GRACE_ENV}, else {DEFAULT_GRACE_S:g})",
            callback=_checked(positive_seconds),
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on 127.0.0.1:PORT")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="dag or classic: the section of the config to run")] = None,
    job_name: Annotated[
        str | None,
        typer.Option(
            "--job-name", "--job", help="the job's name (default: the config's name, else its file's stem)"
        ),
    ] = None,
    store_url: Annotated[str | None, typer.Option(help="the url of every sink.store node")] = None,
    log_format: Annotated[
        str, typer.Option(help="text, or json: one JSON object per line on stderr", callback=_log_format)
    ] = "text",
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="no progress line, even on a terminal")
    ] = False,
    checkpoint_dir: Annotated[
        str | None,
        typer.Option(help="take checkpoints into DIR/<job> and resume from them (default: run.checkpoint)"),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="with checkpoints: remove the job's snapshots and start over")
    ] = False,
    allow_state_reset: Annotated[
        list[str] | None,
        typer.Option(help="with checkpoints: this node starts empty when its saved state does not fit"),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            envvar="MDP_UNIFIED_ENGINE",
            help="streaming (one process, the default), or ray (shards over Ray)",
            callback=_engine,
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            envvar="MDP_UNIFIED_SHARDS",
            min=1,
            max=1024,
            help="with --engine ray: how many shards (default 2)",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="with --engine ray: the Ray cluster to join (default: start a local one)"),
    ] = None,
) -> None:
    """Compile (cached by config content and mdp version) and run the job, then print a summary.

    Each setting: its flag, else MDP_UNIFIED_<SETTING>, else the config file, else its default.
    """
    from runtime_lib.job import checkpoint_options, options_with_defaults
    from runtime_lib.job import run as run_job
    from runtime_lib.log_format import configure_logging

    from .diagnostics import DiagnosticError, report
    from .job_prep import prepare_run
    from .settings import setting_texts

    flags = {
        "config": one_config(config, config_option, required=False),
        "mode": mode,
        "job_name": job_name,
        "metrics_port": metrics_port,
        "store_url": store_url,
        "log_level": log_level,
    }
    if flags["config"] is None and not os.environ.get("MDP_UNIFIED_CONFIG"):
        raise typer.BadParameter("give a config file, or set MDP_UNIFIED_CONFIG", param_hint="CONFIG")
    try:
        prepared = prepare_run(flags)
    except DiagnosticError as exc:
        report(exc.diagnostics, setting_texts(flags))
        raise typer.Exit(1) from None
    report(prepared.compiled.warnings, prepared.texts)
    module, settings = prepared.module, prepared.settings
    configure_logging(settings.log_level, log_format)
    defaults = getattr(module, "RUN_DEFAULTS", None) or {}
    engine = engine or defaults.get("engine") or "streaming"
    shards = shards or defaults.get("shards") or 2
    options = options_with_defaults(defaults, duration, max_events, settings.metrics_port, stop_grace)
    options.mode, options.config_path, options.config_sha256 = (
        module.JOB_MODE,
        str(settings.config),
        module.CONFIG_SHA256,
    )
    options.checkpoint = checkpoint_options(defaults, checkpoint_dir, fresh, allow_state_reset or ())
    if engine == "ray":
        if options.checkpoint is not None:
            typer.echo(
                "error: the ray engine takes no checkpoints yet: run without --checkpoint-dir and "
                "run.checkpoint, or on one process (--engine streaming)",
                err=True,
            )
            raise typer.Exit(1)
        from .ray_run import run_with_ray

        options.job_name = module.JOB_NAME
        try:
            raise typer.Exit(run_with_ray(prepared, shards, address, options))
        except DiagnosticError as exc:
            report(exc.diagnostics, prepared.texts)
            raise typer.Exit(1) from None

    raise typer.Exit(
        run_job(module.build, module.JOB_NAME, options, progress=not no_progress, log_format=log_format)
    )


app.command("components")(components_command)
app.command("graph")(graph_command)
app.command("list")(list_command)
app.command("status")(status_command)
app.add_typer(state_app, name="state")


def main() -> None:
    """Console entry point."""
    app(prog_name="mdp")


if __name__ == "__main__":
    sys.exit(main())
